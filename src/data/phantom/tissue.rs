//! The value of one voxel: which tissue lies at a canonical point, its mean Hounsfield value
//! (before scanner noise) and its mask label. Layers are painted inside out — air or couch,
//! fat, muscle, ribs, the thoracic cavity (lungs with vessels and nodules, or mediastinum,
//! heart, abdomen), then the sternum, spine and airways on top — with a partial-volume blend
//! at the edges of thin structures.

use super::anatomy::{Anatomy, BodyFrame};
use super::subject::Subject;
use super::{LABEL_AIRWAY, LABEL_LEFT_LUNG, LABEL_RIGHT_LUNG};

const AIR: f64 = -1000.0;
const FAT: f64 = -100.0;
const MEDIASTINAL_FAT: f64 = -90.0;
const MUSCLE: f64 = 40.0;
const LUNG: f64 = -850.0;
const BLOOD: f64 = 40.0;
const NODULE: f64 = 50.0;
const AIRWAY_WALL: f64 = 30.0;

/// What a voxel shows (the tests check each class's Hounsfield range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tissue {
    /// Outside the reconstruction field of view (exactly −1024).
    OutsideFov,
    Air,
    Couch,
    /// The partial-volume band where the body outline meets the air.
    Skin,
    Fat,
    /// Muscle, intercostal and other soft tissue.
    Soft,
    Bone,
    MediastinalFat,
    Heart,
    /// Great vessels of the mediastinum and vessels inside the lungs.
    Vessel,
    Abdomen,
    Lung,
    Airway,
    Nodule,
}

fn cover(edge: f64, h: f64) -> f64 {
    (edge / h + 0.5).clamp(0.0, 1.0)
}

impl Subject {
    /// Mean HU, mask label and tissue at world point `p` whose canonical position is `q`.
    pub fn sample(&self, p: [f64; 3], q: [f64; 3]) -> (f64, u8, Tissue) {
        let a = &self.anatomy;
        let h = self.h;
        let bf = a.body_frame(q);
        if bf.depth < -0.5 * h {
            return self.outside(p);
        }
        let tex = a.texture.at(q, 6.0);
        let mut label = 0;
        let (mut hu, mut class) = if bf.depth < a.fat {
            (FAT + 8.0 * tex, Tissue::Fat)
        } else if bf.depth < bf.muscle_end {
            (MUSCLE + 6.0 * tex, Tissue::Soft)
        } else if bf.depth < bf.cavity {
            if let Some(r) = a.in_rib(q, &bf) {
                let hu = if r > 0.6 { 650.0 } else { 300.0 };
                (hu + 30.0 * tex, Tissue::Bone)
            } else {
                (MUSCLE + 6.0 * tex, Tissue::Soft)
            }
        } else if let Some(side) = a.lung_at(q, &bf) {
            label = [LABEL_RIGHT_LUNG, LABEL_LEFT_LUNG][side];
            self.lung(q, tex)
        } else {
            self.cavity(q, tex)
        };
        if let Some(v) = spine(a, q, &bf, tex) {
            (hu, class, label) = (v, Tissue::Bone, 0);
            if v < 100.0 {
                class = Tissue::Soft;
            }
        }
        // Airways: wall and lumen coverage, the union over nearby segments.
        let (mut c_out, mut c_in, mut generation) = (0.0f64, 0.0f64, u8::MAX);
        for &i in self.airways.near(q) {
            let s = &self.airways.segs[i as usize];
            let (d, r) = s.dist(q);
            let wall = 0.2 * r + 0.8;
            c_out = c_out.max(cover(r + wall - d, h));
            let ci = cover(r - d, h);
            if ci > c_in {
                c_in = ci;
                generation = s.generation;
            }
        }
        if c_out > 0.0 {
            hu = hu * (1.0 - c_out) + AIRWAY_WALL * (c_out - c_in) + AIR * c_in;
            if c_in > 0.5 {
                class = Tissue::Airway;
                if self.airway_labelled && generation <= 1 {
                    label = LABEL_AIRWAY;
                }
            }
        }
        if bf.depth < 0.5 * h {
            // Skin edge: blend with the air (or couch) outside.
            let c = cover(bf.depth, h);
            hu = self.outside(p).0 * (1.0 - c) + hu * c;
            label = 0;
            class = Tissue::Skin;
        }
        (hu, label, class)
    }

    /// Air, or the couch (top and bottom carbon shells around a foam core).
    fn outside(&self, p: [f64; 3]) -> (f64, u8, Tissue) {
        let c = &self.couch;
        let dx = p[0] - c.x0;
        let dy = p[1] - (c.y0 - c.curvature * dx * dx);
        if dx.abs() < 240.0 && (0.0..36.0).contains(&dy) {
            let hu = if !(3.0..33.0).contains(&dy) {
                200.0
            } else {
                -750.0
            };
            return (hu, 0, Tissue::Couch);
        }
        (AIR, 0, Tissue::Air)
    }

    /// Lung parenchyma (denser posteriorly), vessels and nodules.
    fn lung(&self, q: [f64; 3], tex: f64) -> (f64, Tissue) {
        let a = &self.anatomy;
        let mut hu = LUNG + 28.0 * tex + 30.0 * (q[1] / a.body_post);
        let mut class = Tissue::Lung;
        let mut c = 0.0f64;
        for &i in self.vessels.near(q) {
            let (d, r) = self.vessels.segs[i as usize].dist(q);
            c = c.max(cover(r - d, self.h));
        }
        if c > 0.0 {
            hu += (BLOOD - hu) * c;
            if c > 0.5 {
                class = Tissue::Vessel;
            }
        }
        for n in &self.nodules {
            let d = ((q[0] - n.centre[0]).powi(2)
                + (q[1] - n.centre[1]).powi(2)
                + (q[2] - n.centre[2]).powi(2))
            .sqrt();
            let c = cover(n.radius - d, self.h);
            if c > 0.0 {
                hu += (NODULE + 10.0 * tex - hu) * c;
                if c > 0.5 {
                    class = Tissue::Nodule;
                }
            }
        }
        (hu, class)
    }

    /// The thoracic cavity outside the lungs: abdomen below the domes, heart, great vessels,
    /// mediastinal fat centrally, soft tissue above the apices.
    fn cavity(&self, q: [f64; 3], tex: f64) -> (f64, Tissue) {
        let a = &self.anatomy;
        let [x, y, z] = q;
        let side = usize::from(x >= a.med_x);
        if z < a.dome[side].z(x, y) {
            let base = if side == 0 { 58.0 } else { 45.0 };
            return (base + 6.0 * tex, Tissue::Abdomen);
        }
        if a.in_heart(q, 0.0) {
            return (BLOOD + 6.0 * tex, Tissue::Heart);
        }
        for c in &a.mediastinal {
            if c.axis_dist(q) < c.r {
                let class = if c.hu > 30.0 {
                    Tissue::Vessel
                } else {
                    Tissue::Soft
                };
                return (c.hu + 5.0 * tex, class);
            }
        }
        let apex = a.apex_z[0].min(a.apex_z[1]);
        if z > apex - 15.0 || (x - a.med_x).abs() > 60.0 {
            (MUSCLE + 6.0 * tex, Tissue::Soft)
        } else {
            (MEDIASTINAL_FAT + 10.0 * tex, Tissue::MediastinalFat)
        }
    }
}

/// The spine (vertebral bodies with discs, canal, arches, spinous and transverse processes)
/// and the sternum: their HU where `q` is inside one.
fn spine(a: &Anatomy, q: [f64; 3], bf: &BodyFrame, tex: f64) -> Option<f64> {
    let [x, y, z] = q;
    // Sternum: a flat bone under the anterior chest wall.
    if bf.cos_post < -0.95
        && (bf.muscle_end - 2.0..bf.muscle_end + 9.0).contains(&bf.depth)
        && z > a.heart_c[2] - a.heart_r[2]
        && z < a.apex_z[0].min(a.apex_z[1]) - 5.0
    {
        return Some(400.0 + 40.0 * tex);
    }
    let dy = y - a.spine_y;
    if dy < -a.vb_r[1] - 1.0 || x.abs() > 40.0 {
        return None;
    }
    let level = (z + a.disc_phase).rem_euclid(a.disc_pitch);
    let (u, v) = (x / a.vb_r[0], dy / a.vb_r[1]);
    let rr = (u * u + v * v).sqrt();
    if rr < 1.0 {
        return Some(if level < 5.5 {
            90.0 + 8.0 * tex
        } else if rr > 1.0 - 2.5 / a.vb_r[0] {
            650.0 + 30.0 * tex
        } else {
            230.0 + 40.0 * tex
        });
    }
    let cy = a.spine_y + a.vb_r[1] + 9.0;
    let dc = (x * x + (y - cy).powi(2)).sqrt();
    if dc < 7.5 {
        return Some(15.0 + 5.0 * tex);
    }
    let arch = level > 7.0 && level < a.disc_pitch - 3.0;
    if arch && dc < 12.5 && y > cy - 4.0 {
        return Some(500.0 + 30.0 * tex);
    }
    let spinous = x.abs() < 4.0 && (cy + 8.0..cy + 28.0).contains(&y);
    let transverse = (9.0..32.0).contains(&x.abs()) && (y - cy).abs() < 4.5;
    if arch && (spinous || transverse) {
        return Some(450.0 + 30.0 * tex);
    }
    None
}
