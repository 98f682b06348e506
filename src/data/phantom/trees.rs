//! The subject's trees: pulmonary arteries and veins from each hilum, and the airway (trachea,
//! main bronchi and lobar bronchi branching into each lung).

use super::anatomy::Anatomy;
use super::tubes::{Growth, Seg, Tubes, grow};
use crate::tensor::Rng;

/// The vessel trees (arteries and veins, from each hilum) and the airway tree.
pub fn trees(anat: &Anatomy, rng: &mut Rng, g: f64, h: f64) -> (Tubes, Tubes) {
    let ty = anat.trachea_y;
    let vessel_growth = Growth {
        max_gen: 8,
        min_radius: 0.7,
        radius_factor: [0.82, 0.72],
        angle_deg: [[12.0, 28.0], [30.0, 55.0]],
        length_factor: [0.78, 0.9],
    };
    let airway_growth = Growth {
        max_gen: 6,
        min_radius: 0.9,
        radius_factor: [0.82, 0.7],
        angle_deg: [[15.0, 30.0], [35.0, 55.0]],
        length_factor: [0.75, 0.9],
    };
    let mut vessels = Vec::new();
    let mut airways = vec![
        Seg {
            a: [0.0, ty, 200.0 * g],
            b: [0.0, ty, 0.0],
            r: [8.0 * g, 8.0 * g],
            generation: 0,
        },
        Seg {
            a: [0.0, ty, 0.0],
            b: [-28.0 * g, ty + 6.0 * g, -22.0 * g],
            r: [6.0 * g, 5.5 * g],
            generation: 1,
        },
        Seg {
            a: [0.0, ty, 0.0],
            b: [38.0 * g, ty + 8.0 * g, -30.0 * g],
            r: [5.5 * g, 5.0 * g],
            generation: 1,
        },
    ];
    for side in 0..2 {
        let lat = if side == 0 { -1.0 } else { 1.0 };
        let bronchus_end = airways[1 + side].b;
        let lobar: &[[f64; 3]] = if side == 0 {
            &[[-0.5, 0.1, 1.0], [-0.7, -0.7, -0.4], [-0.3, 0.4, -1.0]]
        } else {
            &[[0.5, 0.1, 1.0], [0.4, 0.3, -1.0]]
        };
        for d in lobar {
            grow(
                &mut airways,
                rng,
                anat,
                side,
                bronchus_end,
                *d,
                4.2 * g,
                16.0 * g,
                2,
                &airway_growth,
            );
        }
        let hilum = [lat * 40.0 * g, ty + 2.0 * g, -22.0 * g];
        let veins = [hilum[0], hilum[1] - 14.0 * g, hilum[2] - 22.0 * g];
        let roots: [([f64; 3], [f64; 3]); 6] = [
            (hilum, [lat * 0.5, 0.2, 1.0]),
            (hilum, [lat, 0.1, 0.1]),
            (hilum, [lat * 0.4, 0.7, -1.0]),
            (hilum, [lat * 0.4, -0.5, -1.0]),
            (veins, [lat, -0.4, -0.6]),
            (veins, [lat * 0.6, 0.5, 0.5]),
        ];
        for (start, dir) in roots {
            grow(
                &mut vessels,
                rng,
                anat,
                side,
                start,
                dir,
                5.0 * g,
                26.0 * g,
                0,
                &vessel_growth,
            );
        }
    }
    (Tubes::new(vessels, h), Tubes::new(airways, 3.0 + h))
}
