//! Instructions per generated digit and per MAC on the Cortex-M4F (QEMU mps2-an386), counted
//! exactly with `shared/tools/qemu-insncount` (a TCG plugin): a run generating N digits minus a
//! run generating none, divided by N. Usage: `m4-bench [N] [PATH/TO/shared]`.

use std::path::PathBuf;
use std::process::Command;

fn count(
    elf: &std::path::Path,
    plugin: &std::path::Path,
    args: &str,
    out: &std::path::Path,
) -> Result<u64, String> {
    let args: Vec<&str> = args.split(' ').collect();
    let st = gan_tests::qemu("mps2-an386", "cortex-m4", elf, &args)
        .arg("-plugin")
        .arg(format!("{},out={}", plugin.display(), out.display()))
        .args(["-d", "plugin"])
        .output()
        .map_err(|e| format!("qemu-system-arm: {e}"))?;
    if !st.status.success() {
        return Err(format!(
            "firmware failed with {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        ));
    }
    let text = std::fs::read_to_string(out).map_err(|e| e.to_string())?;
    text.split_whitespace()
        .filter_map(|t| t.parse().ok())
        .next()
        .ok_or(format!("no count in {text:?}"))
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let shared = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| gan_tests::repo_root().join("../shared"));
    let run = || -> Result<(), String> {
        let tmp = std::env::temp_dir().join(format!("m4-bench-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let plugin = tmp.join("libinsncount.so");
        let src = shared.join("tools/qemu-insncount/insncount.c");
        let st = Command::new("gcc")
            .args(["-O2", "-shared", "-fPIC", "-o"])
            .arg(&plugin)
            .arg(&src)
            .status()
            .map_err(|e| format!("gcc: {e}"))?;
        if !st.success() {
            return Err(format!("building {} failed", src.display()));
        }
        let elf = gan_tests::build_board(
            "qemu-mps2-an386",
            "qemu-mps2-an386",
            "thumbv7em-none-eabihf",
        )?;
        let models = [("i8", "digits-tiny-i8.gan"), ("f16", "digits-tiny-f16.gan")];
        println!("| model | digits | instructions / digit (generator) | MACs / digit | instructions / MAC |");
        println!("|---|---|---|---|---|");
        for (tag, file) in models {
            let bytes = std::fs::read(gan_tests::repo_root().join("weights").join(file))
                .map_err(|e| e.to_string())?;
            let m = gan_infer::Model::from_bytes(&bytes).map_err(|e| e.to_string())?;
            let g = m.generator().ok_or("no generator")?;
            let macs: u64 = g
                .desc()
                .layers()
                .flatten()
                .map(|l| match l.op {
                    gan_infer::Op::ConvTranspose2d { kernel, .. } => {
                        (l.input.len() * l.output.c as usize * kernel as usize * kernel as usize)
                            as u64
                    }
                    gan_infer::Op::Conv2d { kernel, .. } => {
                        (l.output.len() * l.input.c as usize * kernel as usize * kernel as usize)
                            as u64
                    }
                    gan_infer::Op::Linear => (l.input.len() * l.output.len()) as u64,
                    gan_infer::Op::Reshape => 0,
                })
                .sum();
            let base = count(
                &elf,
                &plugin,
                &format!("model={tag} count=0 score=0"),
                &tmp.join("c0.txt"),
            )?;
            let full = count(
                &elf,
                &plugin,
                &format!("model={tag} count={n} score=0"),
                &tmp.join("c1.txt"),
            )?;
            let per = (full - base) as f64 / n as f64;
            println!(
                "| {tag} | {n} | {per:.0} | {macs} | {:.2} |",
                per / macs as f64
            );
        }
        let _ = std::fs::remove_dir_all(&tmp);
        Ok(())
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
