-- wrk script: each request asks for the status of one of the run ids in $MR_IDS_FILE, in turn.
local ids = {}
for line in io.lines(os.getenv("MR_IDS_FILE")) do ids[#ids + 1] = line end
local i = 0
request = function()
  i = i % #ids + 1
  return wrk.format("GET", "/api/runs/" .. ids[i] .. "/status")
end
