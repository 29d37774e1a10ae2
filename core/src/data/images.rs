//! Image folders as torchvision's `ImageFolder` reads them: one sub-folder per class (its name is the
//! class), holding PNG, JPEG or BMP files. [`scan`] lists the folder and decodes only its first image
//! (fast enough for submit-time checks); [`load`] decodes every image, resized to a square, into pixels in
//! 0..=1 (`[C, H, W]`, one channel for grey images, three otherwise).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::error::{Error, Result};

/// File extensions read as images.
pub const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp"];
/// Largest side an image is resized to.
pub const MAX_SIZE: u32 = 256;

const FIELD: &str = "data_path";

/// What a folder holds, before decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderScan {
    /// Class names, sorted (output index order).
    pub classes: Vec<String>,
    /// Every image with its class index, by class then file name.
    pub files: Vec<(PathBuf, usize)>,
    /// Channels of the first image: 1 when it is grey, else 3.
    pub channels: usize,
    /// Width and height of the first image.
    pub first_size: (u32, u32),
}

/// Decoded images: `len × channels × size × size` pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub pixels: Vec<f32>,
    pub labels: Vec<i64>,
    pub classes: Vec<String>,
    pub channels: usize,
    pub size: usize,
}

fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::invalid(FIELD, format!("{} cannot be listed: {e}", dir.display())))? {
        out.push(entry.map_err(|e| Error::io(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

/// Lists the classes and images under `root` and reads the first image. Fewer than two
/// classes, an empty class or an unreadable first image is a validation error on `data_path`.
pub fn scan(root: &Path) -> Result<FolderScan> {
    let mut classes = Vec::new();
    let mut files = Vec::new();
    for dir in entries(root)?.into_iter().filter(|p| p.is_dir()) {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let images: Vec<PathBuf> = entries(&dir)?.into_iter().filter(|p| p.is_file() && is_image(p)).collect();
        if images.is_empty() {
            return Err(Error::invalid(FIELD, format!("class folder {name:?} holds no {} images", EXTENSIONS.join("/"))));
        }
        files.extend(images.into_iter().map(|p| (p, classes.len())));
        classes.push(name);
    }
    if classes.len() < 2 {
        return Err(Error::invalid(
            FIELD,
            format!("{} must hold one folder of images per class, at least two; found {}", root.display(), classes.len()),
        ));
    }
    let first = &files[0].0;
    let img = image::open(first).map_err(|e| Error::invalid(FIELD, format!("{} is not an image: {e}", first.display())))?;
    let channels = if img.color().has_color() { 3 } else { 1 };
    Ok(FolderScan { classes, files, channels, first_size: (img.width(), img.height()) })
}

/// Decodes every image of `scan`, each resized to `size × size` with a triangle filter, as
/// `scan.channels` channels.
pub fn load(scan: &FolderScan, size: u32) -> Result<Images> {
    if !(1..=MAX_SIZE).contains(&size) {
        return Err(Error::invalid("hyperparams.image_size", format!("must be between 1 and {MAX_SIZE}, got {size}")));
    }
    let per = scan.channels * (size * size) as usize;
    let mut pixels = Vec::with_capacity(scan.files.len() * per);
    let mut labels = Vec::with_capacity(scan.files.len());
    for (path, class) in &scan.files {
        let img = image::open(path).map_err(|e| Error::invalid(FIELD, format!("{} is not an image: {e}", path.display())))?;
        let img = if img.width() == size && img.height() == size { img } else { img.resize_exact(size, size, FilterType::Triangle) };
        if scan.channels == 1 {
            pixels.extend(img.to_luma8().into_raw().into_iter().map(|p| f32::from(p) / 255.0));
        } else {
            // Planar [C, H, W] from interleaved RGB.
            let rgb = img.to_rgb8().into_raw();
            for c in 0..3 {
                pixels.extend(rgb.iter().skip(c).step_by(3).map(|p| f32::from(*p) / 255.0));
            }
        }
        labels.push(*class as i64);
    }
    Ok(Images { pixels, labels, classes: scan.classes.clone(), channels: scan.channels, size: size as usize })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, class: &str, name: &str, pixel: [u8; 3], size: u32) {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        image::RgbImage::from_pixel(size, size, image::Rgb(pixel)).save(dir.join(class).join(name)).unwrap();
    }

    #[test]
    fn a_folder_of_class_folders_loads_as_planar_pixels() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "red", "a.png", [255, 0, 0], 4);
        write(dir.path(), "blue", "b.png", [0, 0, 255], 6);
        std::fs::write(dir.path().join("red/notes.txt"), "not an image").unwrap();
        let scan = scan(dir.path()).unwrap();
        assert_eq!(scan.classes, ["blue", "red"]);
        assert_eq!((scan.channels, scan.first_size), (3, (6, 6)));
        let images = load(&scan, 2).unwrap();
        assert_eq!(images.labels, [0, 1]);
        assert_eq!(images.pixels.len(), 2 * 3 * 4);
        // blue: R and G planes 0, B plane 1; red: R plane 1.
        assert_eq!(&images.pixels[..12], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(&images.pixels[12..16], &[1.0; 4]);
    }

    #[test]
    fn bad_folders_name_data_path() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "only", "a.png", [1, 2, 3], 2);
        let err = scan(dir.path()).unwrap_err();
        assert_eq!(err.field(), Some("data_path"));
        assert!(err.to_string().contains("at least two"), "{err}");
        std::fs::create_dir_all(dir.path().join("empty")).unwrap();
        assert!(scan(dir.path()).unwrap_err().to_string().contains("holds no"));
        std::fs::write(dir.path().join("empty/broken.png"), b"not a png").unwrap();
        assert!(scan(dir.path()).unwrap_err().to_string().contains("broken.png"));
    }
}
