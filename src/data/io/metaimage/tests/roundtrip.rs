//! Round trips through our writer: every element type, raw and zlib, non-trivial geometry.

use super::{TempDir, assert_same, sample};
use crate::data::io::metaimage::ElementType;
use crate::data::io::metaimage::{read, write};
use crate::data::io::read_volume;

#[test]
fn every_element_type_round_trips_raw_and_zraw() {
    let dir = TempDir::new("roundtrip");
    for ty in ElementType::ALL {
        for compressed in [false, true] {
            let v = sample(ty);
            let name = format!("{}_{compressed}.mhd", ty.met_name());
            let path = dir.at(&name);
            write(&path, &v, ty, compressed).unwrap();
            let ext = if compressed { "zraw" } else { "raw" };
            assert!(path.with_extension(ext).is_file());
            let back = read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_same(&back, &v, 0.0);
        }
    }
}

#[test]
fn read_volume_dispatches_mhd_to_the_reader() {
    let dir = TempDir::new("dispatch");
    let v = sample(super::ElementType::I16);
    let path = dir.at("scan.MHD");
    write(&path, &v, super::ElementType::I16, false).unwrap();
    assert_same(&read_volume(&path).unwrap(), &v, 0.0);
}

#[test]
fn world_and_voxel_points_survive_a_round_trip() {
    let dir = TempDir::new("roundtrip-geom");
    let v = sample(super::ElementType::F32);
    let path = dir.at("g.mhd");
    write(&path, &v, super::ElementType::F32, true).unwrap();
    let back = read(&path).unwrap();
    for ijk in [[0.0, 0.0, 0.0], [4.0, 3.0, 2.0], [1.5, 2.25, 0.5]] {
        let w = back.voxel_to_world(ijk);
        assert_eq!(w, v.voxel_to_world(ijk));
        let r = back.world_to_voxel(w);
        assert!(
            r.iter().zip(ijk).all(|(a, b)| (a - b).abs() < 1e-9),
            "{r:?}"
        );
    }
}
