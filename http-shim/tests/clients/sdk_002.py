"""002's "Python SDK Example", as the document writes it (the class verbatim), driven against the shim.

Usage: python sdk_002.py BASE_URL DATA_PATH. Exits non-zero when a check fails."""

import sys

import requests
import time

class AIJobClient:
    def __init__(self, base_url="http://localhost:8000"):
        self.base_url = base_url
    
    def submit_training_job(self, model_type, data_path, **kwargs):
        payload = {
            "model_type": model_type,
            "data_path": data_path,
            **kwargs
        }
        response = requests.post(f"{self.base_url}/jobs/training", json=payload)
        return response.json()
    
    def submit_inference_job(self, model_id, input_data, **kwargs):
        payload = {
            "model_id": model_id,
            "input_data": input_data,
            **kwargs
        }
        response = requests.post(f"{self.base_url}/jobs/inference", json=payload)
        return response.json()
    
    def get_job_status(self, job_id):
        response = requests.get(f"{self.base_url}/jobs/{job_id}/status")
        return response.json()
    
    def wait_for_completion(self, job_id, timeout=3600):
        start_time = time.time()
        while time.time() - start_time < timeout:
            status = self.get_job_status(job_id)
            if status["status"] in ["completed", "failed"]:
                return status
            time.sleep(5)
        raise TimeoutError(f"Job {job_id} did not complete within {timeout} seconds")


def main() -> None:
    base, data_path = sys.argv[1], sys.argv[2]
    client = AIJobClient(base)
    assert requests.get(f"{base}/health").json()["status"] == "healthy"

    # The document's usage, with a model type trained here (random forest) on a real table.
    job = client.submit_training_job(
        model_type="random_forest",
        data_path=data_path,
        hyperparameters={"n_estimators": 50, "max_depth": 5, "random_state": 42},
        description="Random forest on iris",
    )
    assert job["status"] == "pending", job
    result = client.wait_for_completion(job["job_id"], timeout=120)
    print(f"Training completed: {result}")
    assert result["status"] == "completed", result
    assert result["progress"] == 1.0, result
    assert result["result"]["metrics"]["accuracy"] >= 0.9, result

    inference = client.submit_inference_job(result["result"]["model_id"], "5.1,3.5,1.4,0.2", parameters={"probability": True})
    done = client.wait_for_completion(inference["job_id"], timeout=60)
    print(f"Inference completed: {done}")
    assert done["status"] == "completed", done
    assert done["result"]["predictions"][0]["prediction"] == "setosa", done

    # A model type 002's table does not know: its error shape, naming the field.
    refused = client.submit_training_job(model_type="quantum_net", data_path=data_path)
    assert refused["status_code"] == 422 and "model_type" in refused["detail"], refused
    print("ok")


if __name__ == "__main__":
    main()
