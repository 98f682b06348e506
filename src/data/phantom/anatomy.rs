//! The canonical chest: body outline with fat and muscle layers, rib cage, spine, mediastinum
//! (heart, great vessels, trachea, oesophagus), two lungs shaped by the rib cage, the
//! mediastinum, the apex taper and the diaphragm domes. All in canonical millimetres: x towards
//! the patient's left, y posterior, z superior (LPS), origin at the carina, body centre at
//! x = y = 0. Sizes are scaled per subject by a size factor.

use super::shapes::{Capsule, Dome, Texture};
use crate::tensor::Rng;

/// Where a canonical point sits relative to the body outline.
pub struct BodyFrame {
    /// Depth below the skin along the ray from the body axis (negative outside the body).
    pub depth: f64,
    /// Cosine of the angle from the posterior direction (1 = straight back).
    pub cos_post: f64,
    /// Depth of the muscle layer's inner edge (fat + muscle) at this angle.
    pub muscle_end: f64,
    /// Depth of the thoracic cavity (inside the ribs) at this angle.
    pub cavity: f64,
}

/// The canonical anatomy of one subject.
#[derive(Clone, Debug)]
pub struct Anatomy {
    pub body_ax: f64,
    pub body_ant: f64,
    pub body_post: f64,
    pub fat: f64,
    pub muscle: [f64; 3],
    pub rib_thick: f64,
    pub rib_pitch: f64,
    pub rib_height: f64,
    pub rib_slope: f64,
    pub rib_phase: f64,
    pub rib_z: [f64; 2],
    pub spine_y: f64,
    pub vb_r: [f64; 2],
    pub disc_pitch: f64,
    pub disc_phase: f64,
    pub apex_z: [f64; 2],
    pub apex_xy: [[f64; 2]; 2],
    pub apex_axes: [f64; 2],
    pub apex_taper: f64,
    pub dome: [Dome; 2],
    pub med_x: f64,
    pub med_half: f64,
    pub heart_c: [f64; 3],
    pub heart_r: [f64; 3],
    /// Great vessels, oesophagus, trachea and main bronchi (excluded from the lungs).
    pub mediastinal: Vec<Capsule>,
    pub trachea_y: f64,
    pub texture: Texture,
}

fn range(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform()
}

impl Anatomy {
    /// Draws a subject's anatomy; `g` is its overall size factor (about 0.92–1.08).
    pub fn draw(rng: &mut Rng, g: f64) -> Self {
        let body_ax = g * range(rng, 132.0, 148.0);
        let body_ant = g * range(rng, 105.0, 118.0);
        let body_post = g * range(rng, 92.0, 100.0);
        let fat = range(rng, 6.0, 22.0);
        let muscle = [g * 9.0, g * 32.0, g * 12.0]; // lateral, posterior, anterior
        let spine_y = body_post - fat - g * 50.0;
        let apex = g * range(rng, 55.0, 65.0);
        let apex_z = [apex + range(rng, -4.0, 4.0), apex + range(rng, -4.0, 4.0)];
        let trachea_y = spine_y - g * 42.0;
        let floor = -g * range(rng, 140.0, 150.0);
        let dome = |cx: f64, peak: f64| Dome {
            centre: [cx * g, -10.0 * g],
            radii: [80.0 * g, 95.0 * g],
            peak: peak * g,
            drop: 42.0 * g,
            floor,
            rise: 0.5,
        };
        let dome = [
            dome(-55.0, range(rng, -95.0, -80.0)),
            dome(55.0, range(rng, -108.0, -92.0)),
        ];
        let sy = spine_y;
        let ty = trachea_y;
        let cap = |a: [f64; 3], b: [f64; 3], r: f64, hu: f64| Capsule {
            a: a.map(|v| v * g),
            b: b.map(|v| v * g),
            r: r * g,
            hu,
        };
        let (sg, tg) = (sy / g, ty / g);
        let mediastinal = vec![
            // Descending aorta, arch, ascending aorta.
            cap(
                [20.0, sg - 24.0, -260.0],
                [20.0, sg - 24.0, 22.0],
                12.0,
                40.0,
            ),
            cap([20.0, sg - 24.0, 22.0], [6.0, tg - 6.0, 36.0], 12.0, 40.0),
            cap([6.0, tg - 6.0, 36.0], [2.0, tg - 34.0, 18.0], 13.0, 40.0),
            cap([2.0, tg - 34.0, 18.0], [4.0, tg - 40.0, -40.0], 14.0, 40.0),
            // Superior vena cava, pulmonary trunk.
            cap(
                [-26.0, tg - 30.0, -45.0],
                [-24.0, tg - 26.0, 80.0],
                9.0,
                40.0,
            ),
            cap(
                [14.0, tg - 42.0, -45.0],
                [20.0, tg - 18.0, -12.0],
                12.0,
                40.0,
            ),
            // Oesophagus.
            cap(
                [-4.0, sg - 22.0, -260.0],
                [-2.0, sg - 22.0, 200.0],
                7.0,
                35.0,
            ),
            // Trachea and main bronchi (outer radius; the lumen is drawn by the airway tree).
            cap([0.0, tg, -5.0], [0.0, tg, 200.0], 10.5, 20.0),
            cap([0.0, tg, 0.0], [-28.0, tg + 6.0, -22.0], 8.0, 20.0),
            cap([0.0, tg, 0.0], [38.0, tg + 8.0, -30.0], 7.5, 20.0),
        ];
        Anatomy {
            body_ax,
            body_ant,
            body_post,
            fat,
            muscle,
            rib_thick: g * 8.0,
            rib_pitch: g * range(rng, 22.0, 26.0),
            rib_height: g * 9.0,
            rib_slope: g * range(rng, 30.0, 40.0),
            rib_phase: range(rng, 0.0, 25.0),
            rib_z: [floor - 15.0 * g, apex + 15.0 * g],
            spine_y,
            vb_r: [g * 17.0, g * 15.0],
            disc_pitch: g * 27.0,
            disc_phase: range(rng, 0.0, 27.0),
            apex_z,
            apex_xy: [
                [-62.0 * g, spine_y - 30.0 * g],
                [62.0 * g, spine_y - 30.0 * g],
            ],
            apex_axes: [g * 45.0, g * 42.0],
            apex_taper: g * 40.0,
            dome,
            med_x: 3.0 * g,
            med_half: 9.0 * g,
            heart_c: [
                g * (18.0 + range(rng, -5.0, 5.0)),
                g * -40.0,
                -g * range(rng, 75.0, 88.0),
            ],
            heart_r: [g * 58.0, g * 38.0, g * 50.0],
            mediastinal,
            trachea_y,
            texture: Texture::draw(rng),
        }
    }

    /// The body frame of canonical point `q`.
    pub fn body_frame(&self, q: [f64; 3]) -> BodyFrame {
        let (x, y) = (q[0], q[1]);
        let ay = if y < 0.0 {
            self.body_ant
        } else {
            self.body_post
        };
        let r = ((x / self.body_ax).powi(2) + (y / ay).powi(2)).sqrt();
        let len = (x * x + y * y).sqrt();
        let depth = if r > 1e-9 { len * (1.0 / r - 1.0) } else { 1e9 };
        let cos_post = if len > 1e-9 { y / len } else { 0.0 };
        let [lat, post, ant] = self.muscle;
        let muscle =
            lat + (post - lat) * cos_post.max(0.0).powi(3) + (ant - lat) * (-cos_post).max(0.0);
        let muscle_end = self.fat + muscle;
        BodyFrame {
            depth,
            cos_post,
            muscle_end,
            cavity: muscle_end + self.rib_thick + 1.5,
        }
    }

    /// Where `q` (in the rib band of `bf`) lies in a rib's oval cross-section: 0 at its
    /// centre, 1 on its surface; `None` outside every rib.
    pub fn in_rib(&self, q: [f64; 3], bf: &BodyFrame) -> Option<f64> {
        let z = q[2];
        if z < self.rib_z[0] || z > self.rib_z[1] {
            return None;
        }
        let theta = bf.cos_post.clamp(-1.0, 1.0).acos();
        if !(0.3..=2.75).contains(&theta) {
            return None;
        }
        let zz = z + self.rib_slope * theta + self.rib_phase;
        let along =
            (zz.rem_euclid(self.rib_pitch) - 0.5 * self.rib_height) / (0.5 * self.rib_height);
        let across = (bf.depth - bf.muscle_end - 0.5 * self.rib_thick) / (0.5 * self.rib_thick);
        let r = (along * along + across * across).sqrt();
        (r < 1.0).then_some(r)
    }

    /// True inside the heart ellipsoid grown by `margin` mm.
    pub fn in_heart(&self, q: [f64; 3], margin: f64) -> bool {
        let s: f64 = (0..3)
            .map(|a| ((q[a] - self.heart_c[a]) / (self.heart_r[a] + margin)).powi(2))
            .sum();
        s < 1.0
    }

    /// The lung side (0 right, 1 left) at `q`, or `None` outside the lungs.
    pub fn lung_at(&self, q: [f64; 3], bf: &BodyFrame) -> Option<usize> {
        if bf.depth < bf.cavity {
            return None;
        }
        let [x, y, z] = q;
        let side = usize::from(x >= self.med_x);
        if z > self.apex_z[side] || z < self.dome[side].z(x, y) {
            return None;
        }
        if (x - self.med_x).abs() < self.med_half {
            return None;
        }
        let [cx, cy] = self.apex_xy[side];
        let u = (x - cx) / self.apex_axes[0];
        let v = (y - cy) / self.apex_axes[1];
        if u * u + v * v > (self.apex_z[side] - z) / self.apex_taper {
            return None;
        }
        // The vertebral column and the paravertebral gutter behind its centre.
        let vx = x / (self.vb_r[0] + 5.0);
        let vy = (y - self.spine_y) / (self.vb_r[1] + 5.0);
        if vx * vx + vy * vy < 1.0 || (y > self.spine_y && x.abs() < self.vb_r[0] + 8.0) {
            return None;
        }
        if self.in_heart(q, 4.0) {
            return None;
        }
        for c in &self.mediastinal {
            if c.axis_dist(q) < c.r + 4.0 {
                return None;
            }
        }
        Some(side)
    }

    /// The lung side at `q`, computing the body frame.
    pub fn lung_side(&self, q: [f64; 3]) -> Option<usize> {
        self.lung_at(q, &self.body_frame(q))
    }

    /// The canonical bounding box `[min, max]` of the lungs (loose).
    pub fn lung_bounds(&self) -> [[f64; 3]; 2] {
        let top = self.apex_z[0].max(self.apex_z[1]);
        let bottom = self.dome[0].floor.min(self.dome[1].floor);
        [
            [-self.body_ax, -self.body_ant, bottom],
            [self.body_ax, self.body_post, top],
        ]
    }
}
