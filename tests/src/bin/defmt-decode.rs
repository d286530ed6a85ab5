//! Decodes a defmt byte stream (stdin) with an ELF's table: `defmt-decode ELF < log.bin`.
use std::io::Read;

fn main() -> std::process::ExitCode {
    let Some(elf) = std::env::args().nth(1) else {
        eprintln!("usage: defmt-decode ELF < frames");
        return std::process::ExitCode::from(2);
    };
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("error: stdin: {e}");
        return std::process::ExitCode::FAILURE;
    }
    match gan_tests::decode_defmt(std::path::Path::new(&elf), &bytes) {
        Ok(lines) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) ends the output quietly.
            for l in lines {
                if writeln!(out, "{l}").is_err() {
                    break;
                }
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
