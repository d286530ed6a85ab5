//! The main job: build the lm3s6965 firmware, run it in QEMU on the shipped int8 model, write
//! the emulated OLED to a PNG and print it as ASCII art with the firmware's decoded log.
//! Usage: `demo [FRAME] [OUT.png]` (defaults: 0, demo-screen.png).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let frame: u32 = match args.first().map(|a| a.parse()) {
        None => 0,
        Some(Ok(f)) => f,
        Some(Err(_)) => {
            eprintln!("usage: demo [FRAME] [OUT.png]");
            return std::process::ExitCode::from(2);
        }
    };
    let out = std::path::PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "demo-screen.png".into()),
    );
    let run = || -> Result<(), String> {
        eprintln!("building boards/qemu-lm3s6965 ...");
        let elf = gan_tests::build_board("qemu-lm3s6965", "qemu-lm3s6965", "thumbv7m-none-eabi")?;
        let cap = gan_tests::capture_lm3s6965(&elf, frame)?;
        std::fs::write(&out, &cap.png).map_err(|e| format!("{}: {e}", out.display()))?;
        for line in gan_tests::decode_defmt(&elf, &cap.stdout)? {
            println!("[firmware] {line}");
        }
        print!("{}", gan_tests::ascii_art(&cap.rgb));
        println!(
            "screen (512x256, the 128x64 OLED magnified 4x) written to {}",
            out.display()
        );
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
