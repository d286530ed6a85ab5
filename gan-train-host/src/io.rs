//! File output: every file is written atomically (a temporary file in the same directory,
//! then a rename), so an interrupted run never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically, creating the parent directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)
    })
}

/// Runs `write` on a temporary path next to `path`, flushes it to disk, then renames it to
/// `path` (creating the parent directory). On any error the temporary file is removed and
/// `path` is left as it was.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = write(&tmp)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Copies `from` to `to` atomically.
pub fn copy_atomic(from: &Path, to: &Path) -> std::io::Result<()> {
    write_atomic_with(to, |tmp| std::fs::copy(from, tmp).map(|_| ()))
}

/// Encodes an 8-bit grayscale PNG.
pub fn gray_png(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        // Writing into a Vec cannot fail for a well-formed header and exact data length.
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(pixels);
        }
    }
    out
}

/// Decodes a PNG to 8-bit grayscale (RGB averaged, alpha dropped); returns (w, h, pixels).
pub fn read_gray_png(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let mut dec = png::Decoder::new(bytes);
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("bad PNG data: {e}"))?;
    let ch = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks_exact(ch)
        .map(|p| match ch {
            1 | 2 => p[0],
            _ => ((p[0] as u16 + p[1] as u16 + p[2] as u16) / 3) as u8,
        })
        .collect();
    Ok((info.width, info.height, px))
}

/// Tiles 1-channel images (`rows x cols` of `h x w`, row-major order) into one picture with a
/// 2-pixel gray separator, each pixel scaled `scale` times.
pub fn grid(
    images: &[Vec<u8>],
    rows: usize,
    cols: usize,
    h: usize,
    w: usize,
    scale: usize,
) -> (u32, u32, Vec<u8>) {
    let (gh, gw) = (rows * (h + 2) + 2, cols * (w + 2) + 2);
    let mut g = vec![128u8; gh * gw];
    for (k, img) in images.iter().enumerate().take(rows * cols) {
        let (r, c) = (k / cols, k % cols);
        for y in 0..h {
            let at = (2 + r * (h + 2) + y) * gw + 2 + c * (w + 2);
            g[at..at + w].copy_from_slice(&img[y * w..(y + 1) * w]);
        }
    }
    let (sh, sw) = (gh * scale, gw * scale);
    let mut out = vec![0u8; sh * sw];
    for y in 0..sh {
        for x in 0..sw {
            out[y * sw + x] = g[(y / scale) * gw + x / scale];
        }
    }
    (sw as u32, sh as u32, out)
}
