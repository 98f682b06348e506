//! Step 0 of preprocessing: bring a volume whose axes are flipped or swapped relative to the
//! world (a direction matrix that is a signed permutation, as LUNA16's flipped scans have) to
//! the identity direction, so that every scan reaches the network in the same anatomical
//! orientation: array x, y, z run along world x, y, z (LPS: towards the patient's left,
//! posterior, superior). The values are only moved, never interpolated. An oblique direction
//! is left as it is (no voxel grid is aligned with the world).

use crate::data::volume::{IDENTITY_DIRECTION, Volume};

/// How close to 0 or ±1 a direction cosine must be to count as axis-aligned.
const ALIGNED: f64 = 1e-6;

/// For each image axis a (x, y, z): the world axis it runs along and whether it runs backwards,
/// when the direction matrix is a signed permutation.
fn axis_map(direction: &[[f64; 3]; 3]) -> Option<[(usize, bool); 3]> {
    let mut map = [(0, false); 3];
    let mut used = [false; 3];
    for (a, row) in direction.iter().enumerate() {
        let k = (0..3).find(|&k| (row[k].abs() - 1.0).abs() <= ALIGNED)?;
        if used[k] || (0..3).any(|j| j != k && row[j].abs() > ALIGNED) {
            return None;
        }
        used[k] = true;
        map[a] = (k, row[k] < 0.0);
    }
    Some(map)
}

/// `vol` with its array flipped and its axes permuted so that its direction is the identity,
/// when its direction is a signed permutation; the same world position keeps the same value,
/// spacing follows the axes, and the origin becomes the world position of the new first voxel.
/// Any other volume (or an empty one, which the next step refuses) is returned unchanged.
pub fn reorient_to_identity(vol: &Volume) -> Volume {
    let Some(map) = axis_map(&vol.direction) else {
        return vol.clone();
    };
    if vol.direction == IDENTITY_DIRECTION || vol.data.is_empty() {
        return vol.clone();
    }
    // Sizes along image axes (x, y, z); array axis of image axis a is 2 − a.
    let old_n = [vol.dims[2], vol.dims[1], vol.dims[0]];
    let mut new_n = [0usize; 3];
    let mut spacing = [0f64; 3];
    let mut origin = vol.origin;
    for (a, &(k, back)) in map.iter().enumerate() {
        new_n[k] = old_n[a];
        spacing[k] = vol.spacing[a];
        if back {
            // The new first voxel along k is the old last one along a.
            let reach = (old_n[a] - 1) as f64 * vol.spacing[a];
            for (w, o) in origin.iter_mut().enumerate() {
                *o += vol.direction[a][w] * reach;
            }
        }
    }
    // Old array strides of image axes x, y, z.
    let stride = [1, old_n[0], old_n[0] * old_n[1]];
    // For each new axis k: the old stride it walks and where it starts.
    let mut step = [0isize; 3];
    let mut start = 0isize;
    for (a, &(k, back)) in map.iter().enumerate() {
        let s = stride[a] as isize;
        if back {
            step[k] = -s;
            start += (old_n[a] as isize - 1) * s;
        } else {
            step[k] = s;
        }
    }
    let mut data = Vec::with_capacity(vol.data.len());
    for z in 0..new_n[2] as isize {
        for y in 0..new_n[1] as isize {
            let row = start + z * step[2] + y * step[1];
            data.extend((0..new_n[0] as isize).map(|x| vol.data[(row + x * step[0]) as usize]));
        }
    }
    Volume {
        data,
        dims: [new_n[2], new_n[1], new_n[0]],
        spacing,
        origin,
        direction: IDENTITY_DIRECTION,
    }
}
