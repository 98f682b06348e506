//! Tests of the PNG figures: images and PNG encoding, slicing and scaling, colour maps, the
//! font, and figure layout. (Event file tests live in `tensorboard/tests.rs`.)

mod colormap;
mod figure;
mod font;
mod png;
mod slice;

/// Decodes PNG bytes with the `png` crate: (width, height, channels, pixels).
fn decode(bytes: &[u8]) -> (usize, usize, usize, Vec<u8>) {
    let dec = ::png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    (info.width as usize, info.height as usize, channels, buf)
}
