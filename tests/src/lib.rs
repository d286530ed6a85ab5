//! Running firmware in QEMU and checking it against the host: build a board, boot it headless,
//! wait for its `DRAWN` marker, capture the emulated OLED over QMP (`screendump`), decode its
//! defmt log in-process, and render the same scene on the host with the same code.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use counter_scene::framebuffer::{HEIGHT, WIDTH};
use counter_scene::Framebuffer;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Builds a board's firmware (release) and returns the ELF path.
pub fn build_board(board: &str, bin: &str, target: &str) -> Result<PathBuf, String> {
    let dir = repo_root().join("boards").join(board);
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--bin", bin])
        .current_dir(&dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building {board} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(dir.join("target").join(target).join("release").join(bin))
}

/// What a QEMU run of the lm3s6965 firmware produced.
pub struct Capture {
    /// Raw stdout (defmt frames).
    pub stdout: Vec<u8>,
    /// stderr text (the marker, QEMU's notes).
    pub stderr: String,
    /// The screen as `512 x 256` RGB (each OLED pixel a 4x4 block).
    pub rgb: Vec<u8>,
    /// The screendump PNG as QEMU wrote it.
    pub png: Vec<u8>,
}

/// `qemu-system-arm` for `machine`/`cpu` running `elf` headless (no display, serial or monitor)
/// with semihosting on and `args` as its command line (`arg=` items, joined by spaces).
pub fn qemu(machine: &str, cpu: &str, elf: &Path, args: &[&str]) -> Command {
    let mut semihosting = String::from("enable=on,target=native");
    for a in args {
        semihosting.push_str(",arg=");
        semihosting.push_str(a);
    }
    let mut c = Command::new("qemu-system-arm");
    c.args([
        "-machine", machine, "-cpu", cpu, "-display", "none", "-serial", "none", "-monitor", "none",
    ]);
    c.arg("-semihosting-config")
        .arg(semihosting)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null());
    c
}

fn qemu_binary() -> Result<(), String> {
    match Command::new("qemu-system-arm").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("qemu-system-arm is not installed (the test command installs it: apt-get install qemu-system-arm)".into()),
    }
}

fn qmp(sock: &Path, commands: &[String]) -> Result<(), String> {
    let start = Instant::now();
    let stream = loop {
        match UnixStream::connect(sock) {
            Ok(s) => break s,
            Err(e) if start.elapsed() > Duration::from_secs(10) => {
                return Err(format!("QMP connect: {e}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut w = stream;
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("QMP greeting: {e}"))?;
    for c in commands {
        w.write_all(c.as_bytes())
            .and_then(|_| w.write_all(b"\n"))
            .map_err(|e| e.to_string())?;
        // Wait for this command's reply (skipping asynchronous events).
        loop {
            line.clear();
            if reader
                .read_line(&mut line)
                .map_err(|e| format!("QMP reply to {c}: {e}"))?
                == 0
            {
                return Ok(()); // closed (after quit)
            }
            if line.contains("\"error\"") {
                return Err(format!("QMP {c}: {line}"));
            }
            if line.contains("\"return\"") {
                break;
            }
        }
    }
    Ok(())
}

/// Boots the lm3s6965 firmware showing `frame`, captures the OLED once `DRAWN` is printed.
pub fn capture_lm3s6965(elf: &Path, frame: u32) -> Result<Capture, String> {
    qemu_binary()?;
    let dir = std::env::temp_dir().join(format!(
        "gan-qemu-{}-{frame}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let sock = dir.join("qmp.sock");
    let png_path = dir.join("screen.png");
    let frame_arg = format!("frame={frame}");
    let mut child = qemu("lm3s6965evb", "cortex-m3", elf, &[&frame_arg])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("qemu-system-arm: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    // Read stderr until the marker (or QEMU exits / 60 s pass).
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut err_text = String::new();
    let marker = format!("DRAWN {frame}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut drawn = false;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                err_text.push_str(&l);
                err_text.push('\n');
                if l.trim() == marker {
                    drawn = true;
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(st)) = child.try_wait() {
                    return Err(format!(
                        "QEMU exited ({st}) before {marker:?}; stderr:\n{err_text}"
                    ));
                }
            }
            Err(_) => break,
        }
    }
    if !drawn {
        let _ = child.kill();
        return Err(format!("no {marker:?} within 60 s; stderr:\n{err_text}"));
    }
    let cmds = [
        r#"{"execute":"qmp_capabilities"}"#.to_string(),
        format!(
            r#"{{"execute":"screendump","arguments":{{"filename":"{}","format":"png"}}}}"#,
            png_path.display()
        ),
        r#"{"execute":"quit"}"#.to_string(),
    ];
    let q = qmp(&sock, &cmds);
    let _ = child.wait();
    let stdout = out_reader.join().unwrap_or_default();
    while let Ok(l) = rx.try_recv() {
        err_text.push_str(&l);
        err_text.push('\n');
    }
    q?;
    let png = std::fs::read(&png_path).map_err(|e| format!("screendump: {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    let rgb = decode_rgb(&png)?;
    Ok(Capture {
        stdout,
        stderr: err_text,
        rgb,
        png,
    })
}

fn decode_rgb(png_bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut dec = png::Decoder::new(png_bytes);
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut r = dec.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf).map_err(|e| e.to_string())?;
    if (info.width, info.height) != (512, 256) {
        return Err(format!(
            "screendump is {}x{}, expected 512x256",
            info.width, info.height
        ));
    }
    let ch = info.color_type.samples();
    Ok(buf[..info.buffer_size()]
        .chunks_exact(ch)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect())
}

/// The screen QEMU shows for a framebuffer: 512 x 256 RGB, gray level g as (17g, 17g, 17g).
pub fn expected_rgb(fb: &Framebuffer) -> Vec<u8> {
    let mut out = Vec::with_capacity(512 * 256 * 3);
    for y in 0..256 {
        for x in 0..512 {
            let v = 17 * fb.level(x / 4, y / 4);
            out.extend([v, v, v]);
        }
    }
    out
}

/// Renders frame `frame` of the counter scene on the host with `model`.
pub fn host_render(
    model: &[u8],
    frame: u32,
) -> Result<(counter_scene::Frame, Framebuffer), String> {
    let m = gan_infer::Model::from_bytes(model).map_err(|e| e.to_string())?;
    let (g, d) = (
        m.generator().ok_or("no generator")?,
        m.discriminator().ok_or("no discriminator")?,
    );
    let mut arena = vec![0u8; g.arena_bytes().max(d.arena_bytes())];
    let f = counter_scene::compute(frame, &g, &d, &mut arena).map_err(|e| e.to_string())?;
    let mut fb = Framebuffer::new();
    let _ = counter_scene::draw(&mut fb, &f);
    Ok((f, fb))
}

/// Decodes defmt frames with the ELF's table; returns the messages.
pub fn decode_defmt(elf: &Path, bytes: &[u8]) -> Result<Vec<String>, String> {
    let elf_bytes = std::fs::read(elf).map_err(|e| e.to_string())?;
    let table = defmt_decoder::Table::parse(&elf_bytes)
        .map_err(|e| e.to_string())?
        .ok_or("the ELF has no defmt table")?;
    let mut dec = table.new_stream_decoder();
    dec.received(bytes);
    let mut out = Vec::new();
    loop {
        match dec.decode() {
            Ok(f) => out.push(f.display_message().to_string()),
            Err(defmt_decoder::DecodeError::UnexpectedEof) => break,
            Err(defmt_decoder::DecodeError::Malformed) => {
                return Err("malformed defmt frame".into())
            }
        }
    }
    Ok(out)
}

/// The screen as ASCII art, 2x2 OLED pixels per character (" .:-=+*#%@" by brightness).
pub fn ascii_art(rgb: &[u8]) -> String {
    let ramp = b" .:-=+*#%@";
    let mut s = String::new();
    for y in (0..HEIGHT).step_by(2) {
        for x in 0..WIDTH {
            let mut sum = 0u32;
            for dy in 0..2 {
                let (px, py) = (x * 4 + 1, (y + dy) * 4 + 1);
                sum += rgb[(py * 512 + px) * 3] as u32;
            }
            let v = (sum / 2) as usize * (ramp.len() - 1) / 255;
            s.push(ramp[v] as char);
        }
        s.push('\n');
    }
    s
}
