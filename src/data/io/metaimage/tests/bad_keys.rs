//! Bad header values: each names the header file, the key and the problem.

use super::bad::{data, edited};
use super::{TempDir, read_err};
use crate::data::io::metaimage::read;

#[test]
fn bad_header_values_name_the_key() {
    let dir = TempDir::new("bad-keys");
    dir.put("d.raw", data());
    let cases: &[(&str, &str, &[&str])] = &[
        ("NDims = 3", "NDims = 4", &["NDims = 4", "supported"]),
        ("NDims = 3", "NDims = three", &["NDims", "not an integer"]),
        ("NDims = 3\n", "", &["no NDims"]),
        (
            "DimSize = 5 4 3",
            "DimSize = 5 4",
            &["DimSize has 2 values", "NDims = 3"],
        ),
        (
            "DimSize = 5 4 3",
            "DimSize = 5 4 3 2",
            &["DimSize has 4 values"],
        ),
        (
            "DimSize = 5 4 3",
            "DimSize = 5 0 3",
            &["DimSize", "\"0\" is not a positive"],
        ),
        (
            "DimSize = 5 4 3",
            "DimSize = 5 -4 3",
            &["DimSize", "\"-4\""],
        ),
        ("DimSize = 5 4 3", "DimSize = 5 x 3", &["DimSize", "\"x\""]),
        ("DimSize = 5 4 3\n", "", &["no DimSize"]),
        (
            "DimSize = 5 4 3",
            "DimSize = 4294967296 4294967296 4294967296",
            &["DimSize", "too many voxels"],
        ),
        (
            "ElementType = MET_SHORT",
            "ElementType = MET_FOO",
            &["MET_FOO", "not a supported"],
        ),
        (
            "ElementType = MET_SHORT",
            "ElementType = MET_SHORT_ARRAY",
            &["MET_SHORT_ARRAY"],
        ),
        ("ElementType = MET_SHORT\n", "", &["no ElementType"]),
        (
            "ElementSpacing = 0.7 0.8 2.5",
            "ElementSpacing = 0.7 nan 2.5",
            &["ElementSpacing", "nan is not a finite"],
        ),
        (
            "ElementSpacing = 0.7 0.8 2.5",
            "ElementSpacing = 0.7 0.8 inf",
            &["ElementSpacing", "inf is not a finite"],
        ),
        (
            "ElementSpacing = 0.7 0.8 2.5",
            "ElementSpacing = 0.7 0 2.5",
            &["ElementSpacing", "spacing 0 is not positive"],
        ),
        (
            "ElementSpacing = 0.7 0.8 2.5",
            "ElementSpacing = -0.7 0.8 2.5",
            &["spacing -0.7 is not positive"],
        ),
        (
            "ElementSpacing = 0.7 0.8 2.5",
            "ElementSpacing = 0.7 0.8",
            &["ElementSpacing has 2 values, expected 3"],
        ),
        (
            "ElementSpacing = 0.7 0.8 2.5",
            "ElementSize = 1 1 1e999",
            &["ElementSize", "1e999 is not a finite"],
        ),
        (
            "Offset = 1 2 3",
            "Offset = 1 abc 3",
            &["Offset", "\"abc\" is not a number"],
        ),
        (
            "Offset = 1 2 3",
            "Offset = 1 2 3\nPosition = 1 2 4",
            &["Offset and Position", "differ"],
        ),
        (
            "Offset = 1 2 3",
            "Offset = 1 2 3\nOrigin = 1 2 x",
            &["Origin", "\"x\" is not a number"],
        ),
        (
            "Offset = 1 2 3",
            "Offset = 1 2 3\nOffset = 1 2 3",
            &["Offset is given twice", "lines 5 and 6"],
        ),
        (
            "TransformMatrix = 1 0 0 0 1 0 0 0 1",
            "TransformMatrix = 1 0 0 0 1 0 0 0",
            &["TransformMatrix has 8 values, expected 9"],
        ),
        (
            "TransformMatrix = 1 0 0 0 1 0 0 0 1",
            "TransformMatrix = 2 0 0 0 1 0 0 0 1",
            &["TransformMatrix", "not a rotation"],
        ),
        (
            "TransformMatrix = 1 0 0 0 1 0 0 0 1",
            "Rotation = 1 0 0 1 0 0 0 0 1",
            &["not a rotation"],
        ),
        (
            "TransformMatrix = 1 0 0 0 1 0 0 0 1",
            "TransformMatrix = 0 0 0 0 0 0 0 0 0",
            &["not a rotation"],
        ),
        (
            "ObjectType = Image",
            "ObjectType = Mesh",
            &["ObjectType", "not an Image"],
        ),
        (
            "NDims = 3\n",
            "NDims = 3\nElementNumberOfChannels = 3\n",
            &["ElementNumberOfChannels = 3"],
        ),
        ("NDims = 3\n", "NDims = 3\nBinaryData = False\n", &["ASCII"]),
        (
            "NDims = 3\n",
            "NDims = 3\nCompressedData = maybe\n",
            &["CompressedData", "expected True or False"],
        ),
        (
            "NDims = 3\n",
            "NDims = 3\nBinaryDataByteOrderMSB = True\nElementByteOrderMSB = False\n",
            &["disagree"],
        ),
        (
            "NDims = 3\n",
            "NDims = 3\nHeaderSize = -5\n",
            &["HeaderSize = -5"],
        ),
        (
            "NDims = 3\n",
            "NDims = 3\nHeaderSize = 1.5\n",
            &["HeaderSize", "not an integer"],
        ),
        (
            "NDims = 3\n",
            "NDims = 3\nCompressedDataSize = 0\n",
            &["CompressedDataSize = 0"],
        ),
        (
            "ElementDataFile = d.raw",
            "ElementDataFile =",
            &["ElementDataFile is empty"],
        ),
    ];
    for (i, (line, with, needles)) in cases.iter().enumerate() {
        let name = format!("k{i}.mhd");
        let path = dir.put(&name, edited(line, with));
        read_err(&path, &name, needles);
    }
    // The unedited header reads.
    assert!(read(&dir.put("ok.mhd", edited("NDims", "NDims"))).is_ok());
}
