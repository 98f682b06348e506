//! The per-epoch observations of SPEC section 8 for the fixed observation pair: slice strips
//! of the source, target, warped source, every gradient channel (x, y and z) and the warped
//! SOURCE mask, and one overview figure (src | tgt | warped | |warped−tgt| | Jacobian
//! determinant, for the middle slice of each axis).

use crate::eval::metrics::{folding_pct, jacobian_determinants};
use crate::report::{Figure, ReportError, Rgb, Shade, middle_slices, save_png, slice_strip};
use std::path::Path;

/// One sample of the observation pair, on the host; volumes are `[D, H, W]`.
pub struct Observation<'a> {
    pub dims: [usize; 3],
    pub src: &'a [f32],
    pub tgt: &'a [f32],
    pub warped: &'a [f32],
    /// The sigmoid flow output `[D, H, W, 3]` (channels x, y, z).
    pub gradient: &'a [f32],
    /// The sampling grid `[D, H, W, 3]`.
    pub grid: &'a [f32],
    /// The warped source mask, when masks are used.
    pub warped_seg: Option<&'a [f32]>,
}

fn check(what: &str, v: &[f32], want: usize) -> Result<(), ReportError> {
    if v.len() != want {
        return Err(ReportError::Invalid(format!(
            "observation: {what} holds {} values, expected {want}",
            v.len()
        )));
    }
    Ok(())
}

/// Writes `src_XX.png`, `tgt_XX.png`, `pred_XX.png`, `grad_{x,y,z}_XX.png`, `pred_seg_XX.png`
/// (with a mask) and `overview_XX.png` into `dir` (created if missing; XX = `epoch`, at least
/// two digits) and returns the overview image.
pub fn write_observations(dir: &Path, epoch: u32, obs: &Observation) -> Result<Rgb, ReportError> {
    let n: usize = obs.dims.iter().product();
    for (what, v) in [("src", obs.src), ("tgt", obs.tgt), ("warped", obs.warped)] {
        check(what, v, n)?;
    }
    check("gradient", obs.gradient, 3 * n)?;
    check("grid", obs.grid, 3 * n)?;
    if let Some(m) = obs.warped_seg {
        check("warped mask", m, n)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let tag = format!("{epoch:02}");
    let channel =
        |c: usize| -> Vec<f32> { obs.gradient.iter().skip(c).step_by(3).copied().collect() };
    let mut strips: Vec<(String, Vec<f32>)> = vec![
        ("src".into(), obs.src.to_vec()),
        ("tgt".into(), obs.tgt.to_vec()),
        ("pred".into(), obs.warped.to_vec()),
        ("grad_x".into(), channel(0)),
        ("grad_y".into(), channel(1)),
        ("grad_z".into(), channel(2)),
    ];
    if let Some(m) = obs.warped_seg {
        strips.push(("pred_seg".into(), m.to_vec()));
    }
    for (name, vol) in &strips {
        let img = slice_strip(vol, obs.dims, &format!("{name} epoch {tag}"))?;
        save_png(&dir.join(format!("{name}_{tag}.png")), &img)?;
    }
    let overview = overview(epoch, obs)?;
    save_png(&dir.join(format!("overview_{tag}.png")), &overview)?;
    Ok(overview)
}

/// The overview figure: columns src, tgt, warped, |warped − tgt| (viridis), Jacobian
/// determinant (folding in red); rows axial, coronal, sagittal middle slices.
fn overview(epoch: u32, obs: &Observation) -> Result<Rgb, ReportError> {
    let diff: Vec<f32> = obs
        .warped
        .iter()
        .zip(obs.tgt)
        .map(|(a, b)| (a - b).abs())
        .collect();
    let dets = jacobian_determinants(obs.grid, obs.dims);
    let jac: Vec<f32> = dets.iter().map(|&v| v as f32).collect();
    let mse = diff.iter().map(|d| (*d as f64).powi(2)).sum::<f64>() / diff.len().max(1) as f64;
    let columns: [(&str, &[f32], Shade); 5] = [
        ("src", obs.src, Shade::Gray),
        ("tgt", obs.tgt, Shade::Gray),
        ("warped", obs.warped, Shade::Gray),
        ("|warped-tgt|", &diff, Shade::Viridis),
        ("Jacobian", &jac, Shade::Jacobian),
    ];
    let mut fig = Figure::new(5, 3, 128, 128);
    fig.title(&format!(
        "epoch {epoch:02}  mse {mse:.5}  folding {:.2}%",
        folding_pct(&dets)
    ));
    for (col, (name, vol, shade)) in columns.iter().enumerate() {
        for (row, (s, axis)) in middle_slices(vol, obs.dims)?
            .iter()
            .zip(["ax", "cor", "sag"])
            .enumerate()
        {
            fig.set(row, col, &format!("{name} {axis}"), s.render(*shade))?;
        }
    }
    Ok(fig.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::jacobian_colour;

    struct Pair {
        dims: [usize; 3],
        src: Vec<f32>,
        tgt: Vec<f32>,
        grad: Vec<f32>,
        grid: Vec<f32>,
    }

    fn pair(fold: bool) -> Pair {
        let dims = [6, 8, 10];
        let [d, h, w] = dims;
        let blob = |c: f32| -> Vec<f32> {
            (0..d * h * w)
                .map(|i| {
                    let (z, y, x) = ((i / (h * w)) as f32, (i / w % h) as f32, (i % w) as f32);
                    (-((x - c).powi(2) + (y - 4.0).powi(2) + (z - 3.0).powi(2)) / 6.0).exp()
                })
                .collect()
        };
        let mut grid = Vec::with_capacity(d * h * w * 3);
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    // Folding: x runs backwards over the whole volume.
                    let gx = if fold { (w - 1 - x) as f32 } else { x as f32 };
                    grid.extend([gx, y as f32, z as f32]);
                }
            }
        }
        Pair {
            dims,
            src: blob(4.0),
            tgt: blob(5.0),
            grad: (0..d * h * w * 3)
                .map(|i| 0.5 + 0.01 * (i % 7) as f32)
                .collect(),
            grid,
        }
    }

    fn obs<'a>(p: &'a Pair, seg: Option<&'a [f32]>) -> Observation<'a> {
        Observation {
            dims: p.dims,
            src: &p.src,
            tgt: &p.tgt,
            warped: &p.src,
            gradient: &p.grad,
            grid: &p.grid,
            warped_seg: seg,
        }
    }

    fn scratch(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("voxflow-observe-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn every_file_is_written_with_the_epoch_number() {
        let p = pair(false);
        let mask: Vec<f32> = p.src.iter().map(|v| (*v > 0.5) as u8 as f32).collect();
        for (epoch, seg, tag) in [(3, None, "03"), (123, Some(&mask[..]), "123")] {
            let dir = scratch(tag);
            write_observations(&dir, epoch, &obs(&p, seg)).unwrap();
            let mut names = vec![
                "src", "tgt", "pred", "grad_x", "grad_y", "grad_z", "overview",
            ];
            if seg.is_some() {
                names.push("pred_seg");
            }
            for n in &names {
                let f = dir.join(format!("{n}_{tag}.png"));
                let decoder =
                    png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&f).unwrap()));
                let info = decoder.read_info().unwrap().info().clone();
                assert!(
                    info.width >= 40 && info.height >= 10,
                    "{n}: {}x{}",
                    info.width,
                    info.height
                );
            }
            let count = std::fs::read_dir(&dir).unwrap().count();
            assert_eq!(count, names.len(), "no other files");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn the_overview_marks_folding_only_when_the_grid_folds() {
        let red = jacobian_colour(-1.0);
        let count = |fold: bool| {
            let p = pair(fold);
            let img = overview(1, &obs(&p, None)).unwrap();
            (0..img.height())
                .flat_map(|y| (0..img.width()).map(move |x| (x, y)))
                .filter(|&(x, y)| img.get(x, y) == red)
                .count()
        };
        assert_eq!(count(false), 0);
        assert!(count(true) > 100);
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let p = pair(false);
        let mut o = obs(&p, None);
        o.grid = &p.grid[..5];
        let e = write_observations(&scratch("bad"), 1, &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("grid") && e.contains("expected"), "{e}");
    }
}
