use rayon::prelude::*;
use std::time::Instant;

fn rate(m: usize, k: usize, n: usize, rows: usize, par: bool) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0f32; m * n];
    let run = |c: &mut [f32]| {
        let f = |(blk, c): (usize, &mut [f32])| unsafe {
            let r = c.len() / n;
            matrixmultiply::sgemm(r, k, n, 1.0, a.as_ptr().add(blk * rows * k), k as isize, 1, b.as_ptr(), n as isize, 1, 0.0, c.as_mut_ptr(), n as isize, 1);
        };
        if par { c.par_chunks_mut(rows * n).enumerate().for_each(f) } else { c.chunks_mut(rows * n).enumerate().for_each(f) }
    };
    run(&mut c);
    let t = Instant::now();
    let reps = 5;
    for _ in 0..reps { run(&mut c); }
    let dt = t.elapsed().as_secs_f64() / reps as f64;
    2.0 * (m * k * n) as f64 / dt / 1e9
}

fn main() {
    for &(k, n) in &[(864, 32), (432, 16), (432, 3), (486, 16), (432, 18), (1296, 32), (54, 16)] {
        for &rows in &[64, 256, 1024] {
            println!("k {k} n {n} rows {rows}: 1t {:.1}  par {:.1}", rate(65536, k, n, rows, false), rate(65536, k, n, rows, true));
        }
    }
}
