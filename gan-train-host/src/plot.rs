//! A minimal loss plot without a font: loss_D (dark) and loss_G (mid gray) per step, each
//! smoothed over a window, on a light background with a frame and horizontal grid lines at
//! every 0.5 of loss. Axis: x = steps (whole run), y = 0 (bottom) to the larger of 3 and the
//! maximum smoothed loss.

/// Renders the plot as `w x h` gray pixels.
pub fn loss_plot(history: &[(f32, f32)], w: usize, h: usize) -> Vec<u8> {
    let mut px = vec![245u8; w * h];
    let (x0, y0, x1, y1) = (8usize, 8usize, w - 8, h - 8);
    let smooth = |sel: fn(&(f32, f32)) -> f32| -> Vec<f32> {
        let win = (history.len() / 100).max(1);
        (0..history.len())
            .map(|i| {
                let a = i.saturating_sub(win - 1);
                history[a..=i].iter().map(sel).sum::<f32>() / (i - a + 1) as f32
            })
            .collect()
    };
    let (ld, lg) = (smooth(|p| p.0), smooth(|p| p.1));
    let ymax = ld
        .iter()
        .chain(&lg)
        .copied()
        .filter(|v| v.is_finite())
        .fold(3.0f32, f32::max);
    let to_y = |v: f32| y1 - ((v / ymax).clamp(0.0, 1.0) * (y1 - y0) as f32) as usize;
    let mut g = 0.0;
    while g <= ymax {
        let y = to_y(g);
        px[y * w + x0..y * w + x1].iter_mut().for_each(|p| *p = 215);
        g += 0.5;
    }
    for x in x0..x1 {
        px[y0 * w + x] = 0;
        px[y1 * w + x] = 0;
    }
    for y in y0..=y1 {
        px[y * w + x0] = 0;
        px[y * w + x1 - 1] = 0;
    }
    if history.len() >= 2 {
        for (series, shade) in [(&lg, 140u8), (&ld, 20u8)] {
            let mut prev: Option<(usize, usize)> = None;
            for (i, &v) in series.iter().enumerate() {
                let x = x0 + i * (x1 - x0 - 1) / (series.len() - 1);
                let y = to_y(v);
                if let Some((px0, py0)) = prev {
                    let (lo, hi) = (py0.min(y), py0.max(y));
                    for yy in lo..=hi {
                        px[yy * w + x] = shade;
                    }
                    for xx in px0..=x {
                        px[y * w + xx] = shade;
                    }
                }
                prev = Some((x, y));
            }
        }
    }
    px
}
