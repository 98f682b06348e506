use super::decode;
use crate::report::{Gray, Raster, ReportError, Rgb, encode_png, save_png};
use crate::testutil::TempDir;

fn test_rgb() -> Rgb {
    let (w, h) = (7, 3);
    let data = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
    Rgb::from_raw(w, h, data).unwrap()
}

#[test]
fn rgb_png_round_trip() {
    let img = test_rgb();
    let (w, h, c, px) = decode(&encode_png(&img).unwrap());
    assert_eq!((w, h, c), (7, 3, 3));
    assert_eq!(px, img.bytes());
    assert_eq!(img.get(2, 1), [px[27], px[28], px[29]]);
}

#[test]
fn gray_png_round_trip() {
    let data: Vec<u8> = (0..20).map(|i| (i * 13) as u8).collect();
    let img = Gray::from_raw(5, 4, data.clone()).unwrap();
    let (w, h, c, px) = decode(&encode_png(&img).unwrap());
    assert_eq!((w, h, c), (5, 4, 1));
    assert_eq!(px, data);
    assert_eq!(img.get(4, 3), 19 * 13);
    let rgb = img.to_rgb();
    assert_eq!(rgb.get(1, 2), [11 * 13; 3]);
}

#[test]
fn bad_images_are_errors() {
    assert!(matches!(
        Rgb::from_raw(2, 2, vec![0; 11]),
        Err(ReportError::Invalid(_))
    ));
    assert!(matches!(
        Gray::from_raw(3, 2, vec![0; 5]),
        Err(ReportError::Invalid(_))
    ));
    assert!(matches!(
        encode_png(&Rgb::new(0, 4, [0; 3])),
        Err(ReportError::Invalid(_))
    ));
}

#[test]
fn save_png_is_atomic_and_replaces() {
    let tmp = TempDir::new("save");
    let dir = tmp.0.clone();
    let path = dir.join("fig.png");
    std::fs::write(&path, b"old").unwrap();
    let img = test_rgb();
    save_png(&path, &img).unwrap();
    let (w, h, _, px) = decode(&std::fs::read(&path).unwrap());
    assert_eq!((w, h), (7, 3));
    assert_eq!(px, img.bytes());
    // Only the figure is left: no temporary file.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("fig.png")]);
    // A directory that does not exist: an I/O error naming the temporary file beside it.
    let missing = dir.join("no/such/dir/fig.png");
    match save_png(&missing, &img) {
        Err(ReportError::Io(e)) => assert!(e.path.starts_with(dir.join("no/such/dir"))),
        other => panic!("expected an Io error, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
