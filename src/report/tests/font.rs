use crate::report::Rgb;
use crate::report::font::{
    ADVANCE, GLYPH_H, GLYPH_W, draw_text, draw_text_scaled, glyph, text_width,
};

#[test]
fn every_printable_glyph_is_drawn_and_distinct() {
    assert_eq!(glyph(' '), [0; 9]);
    let printable: Vec<char> = ('!'..='~').collect();
    assert_eq!(printable.len(), 94);
    for &c in &printable {
        let g = glyph(c);
        assert!(g.iter().any(|&row| row != 0), "glyph {c:?} is empty");
        assert!(
            g.iter().all(|&row| row < 0x20),
            "glyph {c:?} wider than 5 pixels"
        );
    }
    for (i, &a) in printable.iter().enumerate() {
        for &b in &printable[i + 1..] {
            assert_ne!(glyph(a), glyph(b), "glyphs {a:?} and {b:?} are the same");
        }
    }
    // Non-ASCII and control characters get the box, unlike any printable glyph.
    assert_eq!(glyph('é'), glyph('\n'));
    assert!(printable.iter().all(|&c| glyph(c) != glyph('é')));
}

#[test]
fn draw_text_places_glyph_pixels() {
    let bg = [0, 0, 0];
    let ink = [200, 10, 30];
    let mut img = Rgb::new(20, 12, bg);
    draw_text(&mut img, 2, 3, "Hi", ink);
    for (i, c) in "Hi".chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_W {
                let want = if bits & (0x10 >> col) != 0 { ink } else { bg };
                assert_eq!(
                    img.get(2 + i * ADVANCE + col, 3 + row),
                    want,
                    "{c} at ({col}, {row})"
                );
            }
        }
    }
    // Nothing outside the text box.
    let inked = (0..12)
        .flat_map(|y| (0..20).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get(x, y) == ink);
    assert!(
        inked.clone().all(
            |(x, y)| (2..2 + text_width("Hi", 1)).contains(&x) && (3..3 + GLYPH_H).contains(&y)
        )
    );
    assert!(inked.count() > 10);
}

#[test]
fn scaled_and_clipped_text() {
    let mut img = Rgb::new(30, 20, [0; 3]);
    draw_text_scaled(&mut img, 1, 1, "T", [255; 3], 2);
    // The top bar of 'T' (row 0 = 0x1F) is 10 pixels wide and 2 tall at scale 2.
    assert!((1..11).all(|x| img.get(x, 1) == [255; 3] && img.get(x, 2) == [255; 3]));
    assert_eq!(img.get(11, 1), [0; 3]);
    assert_eq!(text_width("abc", 1), 17);
    assert_eq!(text_width("abc", 2), 34);
    assert_eq!(text_width("", 1), 0);
    // Text running off the image is clipped, never a panic.
    draw_text(&mut img, 25, 16, "clipped text", [255; 3]);
    draw_text(&mut img, 100, 100, "gone", [255; 3]);
}
