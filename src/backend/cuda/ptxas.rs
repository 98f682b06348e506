//! Reads the `ptxas -v` reports build.rs kept for every kernel family (registers, spills,
//! shared memory), and checks each kernel against its register budget.

/// What ptxas reported for one kernel (sm_90).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelResources {
    pub name: String,
    pub registers: u32,
    pub stack_bytes: u32,
    pub spill_store_bytes: u32,
    pub spill_load_bytes: u32,
    pub shared_bytes: u32,
}

/// The number just before `unit` in `line` (`"12 bytes spill stores"`, unit `"bytes spill
/// stores"` → 12).
fn number_before(line: &str, unit: &str) -> Option<u32> {
    let head = line[..line.find(unit)?].trim_end();
    head.rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
}

/// Parses one family's report.
pub fn parse_report(text: &str) -> Vec<KernelResources> {
    let mut out: Vec<KernelResources> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let name = rest.split('\'').next().unwrap_or("").to_string();
            out.push(KernelResources {
                name,
                registers: 0,
                stack_bytes: 0,
                spill_store_bytes: 0,
                spill_load_bytes: 0,
                shared_bytes: 0,
            });
            continue;
        }
        let Some(k) = out.last_mut() else { continue };
        if line.contains("bytes stack frame") {
            k.stack_bytes = number_before(line, "bytes stack frame").unwrap_or(0);
            k.spill_store_bytes = number_before(line, "bytes spill stores").unwrap_or(0);
            k.spill_load_bytes = number_before(line, "bytes spill loads").unwrap_or(0);
        }
        if line.contains("Used ") && line.contains("registers") {
            k.registers = number_before(line, "registers").unwrap_or(0);
            k.shared_bytes = number_before(line, "bytes smem").unwrap_or(0);
        }
    }
    out
}

/// Every kernel's resources, from all families' reports.
pub fn all_kernels() -> Vec<KernelResources> {
    super::built::PTXAS_REPORTS
        .iter()
        .flat_map(|(_, text)| parse_report(text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cuda::built;

    #[test]
    fn parses_a_ptxas_report() {
        let text = "ptxas info    : Compiling entry function 'vf_a' for 'sm_90'\n\
            ptxas info    : Function properties for vf_a\n\
            \x20   8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
            ptxas info    : Used 72 registers, used 1 barriers, 8448 bytes smem\n\
            ptxas info    : Compiling entry function 'vf_b' for 'sm_90'\n\
            \x20   0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
            ptxas info    : Used 10 registers, used 0 barriers\n";
        let k = parse_report(text);
        assert_eq!(k.len(), 2);
        assert_eq!(
            (
                k[0].registers,
                k[0].stack_bytes,
                k[0].spill_store_bytes,
                k[0].spill_load_bytes
            ),
            (72, 8, 4, 12)
        );
        assert_eq!(k[0].shared_bytes, 8448);
        assert_eq!(
            (k[1].name.as_str(), k[1].registers, k[1].shared_bytes),
            ("vf_b", 10, 0)
        );
    }

    /// Every kernel compiles for sm_90 within its stated register budget and without spilling
    /// to local memory. CI sets VOXFLOW_REQUIRE_NVCC=1, so a build without nvcc fails there.
    #[test]
    fn kernels_stay_within_register_budgets_and_never_spill() {
        if built::NVCC.is_none() {
            assert!(
                std::env::var_os("VOXFLOW_REQUIRE_NVCC").is_none(),
                "VOXFLOW_REQUIRE_NVCC is set but this build found no nvcc"
            );
            eprintln!("skipping: built without nvcc");
            return;
        }
        let kernels = all_kernels();
        let mut problems = Vec::new();
        for (name, budget) in built::REGISTER_BUDGETS {
            let Some(k) = kernels.iter().find(|k| k.name == *name) else {
                problems.push(format!("{name}: missing from the ptxas reports"));
                continue;
            };
            if k.registers > *budget {
                problems.push(format!(
                    "{name}: {} registers > budget {budget}",
                    k.registers
                ));
            }
            if k.spill_store_bytes > 0 || k.spill_load_bytes > 0 {
                problems.push(format!(
                    "{name}: spills {} bytes stored / {} loaded",
                    k.spill_store_bytes, k.spill_load_bytes
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
