//! Overlap of masks: Dice of binarized masks, per label for label maps.
//!
//! Masks are `f32` arrays binarized at 0.5 (`v > 0.5` is inside), the convention of the
//! warped (trilinearly interpolated) masks. Two empty masks agree perfectly: their Dice is 1,
//! never NaN; one empty and one not gives 0.

/// `v > 0.5` for every value.
pub fn binarize(mask: &[f32]) -> Vec<bool> {
    mask.iter().map(|&v| v > 0.5).collect()
}

/// Dice `2|A∩B| / (|A|+|B|)` over pairs of memberships; 1 when both masks are empty.
fn dice_of(pairs: impl Iterator<Item = (bool, bool)>) -> f64 {
    let (mut inter, mut sum) = (0usize, 0usize);
    for (x, y) in pairs {
        inter += usize::from(x && y);
        sum += usize::from(x) + usize::from(y);
    }
    if sum == 0 {
        1.0
    } else {
        2.0 * inter as f64 / sum as f64
    }
}

/// Dice `2|A∩B| / (|A|+|B|)` of two boolean masks of one size; 1 when both are empty.
pub fn dice_bool(a: &[bool], b: &[bool]) -> f64 {
    dice_of(a.iter().zip(b).map(|(&x, &y)| (x, y)))
}

/// Dice of masks binarized at 0.5 (see [`dice_bool`]).
pub fn dice(a: &[f32], b: &[f32]) -> f64 {
    dice_of(a.iter().zip(b).map(|(&x, &y)| (x > 0.5, y > 0.5)))
}

/// The distinct non-zero labels of label maps (values compared exactly, as read from integer
/// mask files and kept by nearest-neighbour resampling), sorted.
pub fn labels(maps: &[&[f32]]) -> Vec<f32> {
    let mut out: Vec<f32> = maps
        .iter()
        .flat_map(|m| m.iter().copied())
        .filter(|&v| v != 0.0 && v.is_finite())
        .collect();
    out.sort_by(f32::total_cmp);
    out.dedup();
    out
}

/// The indicator `1.0` where `map == label`, else `0.0`.
pub fn indicator(map: &[f32], label: f32) -> Vec<f32> {
    map.iter()
        .map(|&v| f32::from(u8::from(v == label)))
        .collect()
}

/// Dice of each label of `labels` between label maps `a` and `b` (exact label values): the
/// Dice of the masks `a == label` and `b == label`, 1 for a label absent from both.
pub fn dice_per_label(a: &[f32], b: &[f32], labels: &[f32]) -> Vec<f64> {
    labels
        .iter()
        .map(|&l| dice_of(a.iter().zip(b).map(|(&x, &y)| (x == l, y == l))))
        .collect()
}
