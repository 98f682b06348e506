//! Step 0 of preprocessing: bring a volume whose axes are flipped or swapped relative to the
//! world (a direction matrix that is a signed permutation, as LUNA16's flipped scans have) to
//! the identity direction, so that every scan reaches the network in the same anatomical
//! orientation: array x, y, z run along world x, y, z (LPS: towards the patient's left,
//! posterior, superior). The values are only moved, never interpolated. An oblique direction
//! (an MR slab tilted from the scanner axes, say) is brought the same way to the axis-aligned
//! orientation nearest to it (each image axis to the world axis it runs closest to); the tilt
//! that remains stays in its direction matrix, not resampled away. Only a direction with no
//! such nearest orientation (an axis at 45° between two world axes) is left as it is.

use crate::data::volume::{IDENTITY_DIRECTION, Volume};

/// How close to 0 or ±1 a direction cosine must be to count as axis-aligned.
const ALIGNED: f64 = 1e-6;

/// For each image axis a (x, y, z): the world axis it runs closest to and whether it runs
/// backwards along it, when those world axes are distinct (a signed permutation, up to the
/// tilt of an oblique volume).
fn axis_map(direction: &[[f64; 3]; 3]) -> Option<[(usize, bool); 3]> {
    let mut map = [(0, false); 3];
    let mut used = [false; 3];
    for (a, row) in direction.iter().enumerate() {
        let k = (0..3).max_by(|&i, &j| row[i].abs().total_cmp(&row[j].abs()))?;
        let runner_up = (0..3)
            .filter(|&j| j != k)
            .map(|j| row[j].abs())
            .fold(0.0, f64::max);
        if used[k] || row[k].abs() <= runner_up + ALIGNED {
            return None;
        }
        used[k] = true;
        map[a] = (k, row[k] < 0.0);
    }
    Some(map)
}

/// Whether every direction cosine is 0 or ±1 (within [`ALIGNED`]: header round-off).
fn axis_aligned(direction: &[[f64; 3]; 3]) -> bool {
    direction
        .iter()
        .flatten()
        .all(|c| c.abs() <= ALIGNED || (c.abs() - 1.0).abs() <= ALIGNED)
}

/// `vol` with its array flipped and its axes permuted so that its direction is the identity,
/// when its direction is a signed permutation (or, for an oblique volume, so that it is the
/// nearest to the identity); the same world position keeps the same value, spacing follows
/// the axes, and the origin becomes the world position of the new first voxel. Any other
/// volume (or an empty one, which the next step refuses) is returned unchanged.
pub fn reorient_to_identity(vol: &Volume) -> Volume {
    let Some(map) = axis_map(&vol.direction) else {
        return vol.clone();
    };
    let moved = map.iter().enumerate().any(|(a, &(k, back))| k != a || back);
    if !moved && axis_aligned(&vol.direction) {
        return Volume {
            direction: IDENTITY_DIRECTION,
            ..vol.clone()
        };
    }
    if !moved || vol.data.is_empty() {
        return vol.clone();
    }
    // Sizes along image axes (x, y, z); array axis of image axis a is 2 − a.
    let old_n = [vol.dims[2], vol.dims[1], vol.dims[0]];
    let mut new_n = [0usize; 3];
    let mut spacing = [0f64; 3];
    let mut origin = vol.origin;
    let mut direction = IDENTITY_DIRECTION;
    for (a, &(k, back)) in map.iter().enumerate() {
        new_n[k] = old_n[a];
        spacing[k] = vol.spacing[a];
        let sign = if back { -1.0 } else { 1.0 };
        direction[k] = vol.direction[a].map(|c| sign * c);
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
        direction: match axis_aligned(&vol.direction) {
            true => IDENTITY_DIRECTION,
            false => direction,
        },
    }
}
