//! The convolution lesson: a 3x3 filter applied to an image with the engine's own Conv2d
//! (stride 1, zero padding 1, so the output has the input's size), printing the kernel and a
//! crop of the input and output matrices.

use std::fmt::Write;
use std::path::Path;

use crate::engine::conv2d::Conv2d;
use crate::engine::Tensor;
use crate::io::{gray_png, read_gray_png, write_atomic};

/// A named kernel or a literal `[[a,b,c],[d,e,f],[g,h,i]]`.
pub fn parse_kernel(spec: &str) -> Result<[f32; 9], String> {
    Ok(match spec {
        "sobel-x" => [-1., 0., 1., -2., 0., 2., -1., 0., 1.],
        "sobel-y" => [-1., -2., -1., 0., 0., 0., 1., 2., 1.],
        "blur" => [1. / 9.; 9],
        "sharpen" => [0., -1., 0., -1., 5., -1., 0., -1., 0.],
        "edge" => [-1., -1., -1., -1., 8., -1., -1., -1., -1.],
        "identity" => [0., 0., 0., 0., 1., 0., 0., 0., 0.],
        lit => {
            let nums: Vec<f32> = lit
                .replace(['[', ']'], " ")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|t| !t.is_empty())
                .map(|t| {
                    t.parse::<f32>()
                        .map_err(|_| format!("--kernel: {t:?} is not a number"))
                })
                .collect::<Result<_, _>>()?;
            let rows = lit.matches('[').count();
            if nums.len() != 9 || (rows != 4 && rows != 0) {
                return Err(format!("--kernel: expected a name (sobel-x, sobel-y, blur, sharpen, edge, identity) or a 3x3 matrix like [[0,1,0],[1,-4,1],[0,1,0]], got {lit:?}"));
            }
            nums.try_into()
                .map_err(|_| "--kernel: need 9 numbers".to_string())?
        }
    })
}

/// Convolves `pixels` (`h x w`, values 0..=255) with `kernel`; returns the raw output.
pub fn convolve(pixels: &[u8], h: usize, w: usize, kernel: &[f32; 9]) -> Vec<f32> {
    let mut conv = Conv2d::new(1, 1, 3, 1, 1, false);
    conv.weight.w.copy_from_slice(kernel);
    let x = Tensor {
        c: 1,
        n: 1,
        h,
        w,
        data: pixels.iter().map(|&p| p as f32).collect(),
    };
    let mut y = Tensor::default();
    conv.forward(&mut y, &x);
    y.data
}

fn matrix(out: &mut String, title: &str, v: &[f32], w: usize, y0: usize, x0: usize, n: usize) {
    let _ = writeln!(
        out,
        "{title} (rows {y0}..{}, columns {x0}..{}):",
        y0 + n,
        x0 + n
    );
    for y in y0..y0 + n {
        let row: Vec<String> = (x0..x0 + n)
            .map(|x| format!("{:7.1}", v[y * w + x]))
            .collect();
        let _ = writeln!(out, "  {}", row.join(""));
    }
}

/// The `gan convolve` command; returns what it prints.
pub fn run(
    image: Option<&Path>,
    mnist_index: Option<usize>,
    data_dir: &Path,
    kernel: &str,
    out: &Path,
) -> Result<String, String> {
    let k = parse_kernel(kernel)?;
    let (w, h, px) = match (image, mnist_index) {
        (Some(p), _) => {
            read_gray_png(&std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?)
                .map_err(|e| format!("{}: {e}", p.display()))?
        }
        (None, Some(i)) => {
            let d = crate::data::load_split(data_dir, "train").map_err(|e| e.to_string())?;
            if i >= d.len() {
                return Err(format!(
                    "--mnist-index {i}: the training set has {} images",
                    d.len()
                ));
            }
            (d.w as u32, d.h as u32, d.image(i).to_vec())
        }
        (None, None) => return Err("give --image FILE.png or --mnist-index N".into()),
    };
    let (w, h) = (w as usize, h as usize);
    let y = convolve(&px, h, w, &k);
    let mut s = String::new();
    let _ = writeln!(s, "kernel {kernel}:");
    for r in 0..3 {
        let _ = writeln!(
            s,
            "  [{:6.2} {:6.2} {:6.2}]",
            k[3 * r],
            k[3 * r + 1],
            k[3 * r + 2]
        );
    }
    let n = 6.min(h).min(w);
    let (y0, x0) = ((h - n) / 2, (w - n) / 2);
    let xf: Vec<f32> = px.iter().map(|&p| p as f32).collect();
    matrix(&mut s, "input", &xf, w, y0, x0, n);
    matrix(&mut s, "output", &y, w, y0, x0, n);
    // Signed responses (edges) are shown by magnitude.
    let signed = k.iter().any(|&v| v < 0.0) && k.iter().sum::<f32>().abs() < 1e-6;
    let img: Vec<u8> = y
        .iter()
        .map(|&v| (if signed { v.abs() } else { v }).round().clamp(0.0, 255.0) as u8)
        .collect();
    write_atomic(out, &gray_png(w as u32, h as u32, &img))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = writeln!(
        s,
        "wrote {} ({w}x{h}{})",
        out.display(),
        if signed { ", |response|" } else { "" }
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_parse_and_act_as_filters() {
        assert_eq!(
            parse_kernel("[[1,2,3],[4,5,6],[7,8,9]]").unwrap(),
            [1., 2., 3., 4., 5., 6., 7., 8., 9.]
        );
        assert!(parse_kernel("[[1,2],[3,4]]").is_err());
        assert!(parse_kernel("sobel-z").is_err());
        // A vertical step edge: sobel-x responds on the edge only, identity copies.
        let mut px = vec![0u8; 25];
        for y in 0..5 {
            for x in 3..5 {
                px[y * 5 + x] = 100;
            }
        }
        let id = convolve(&px, 5, 5, &parse_kernel("identity").unwrap());
        assert_eq!(id, px.iter().map(|&p| p as f32).collect::<Vec<_>>());
        let sx = convolve(&px, 5, 5, &parse_kernel("sobel-x").unwrap());
        assert_eq!(sx[2 * 5 + 2], 400.0); // centre row, just left of the edge
        assert_eq!(sx[2 * 5], 0.0);
    }
}
