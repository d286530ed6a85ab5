//! Checkpoints in safetensors with PyTorch's names and layouts: `G.net.{i}.weight`,
//! `G.net.{i}.running_mean`, ... (`{k[2:]: v}` of the `G.` keys is a `state_dict` of the
//! baseline's generator), Adam moments under `optG.`/`optD.` (`exp_avg`, `exp_avg_sq`), an
//! optional EMA generator under `G_ema.`, and the training state in the metadata.

use std::collections::HashMap;
use std::path::Path;

use std::borrow::Cow;

use safetensors::tensor::{Dtype, View};
use safetensors::SafeTensors;

use crate::engine::{Layer, Sequential};

/// Named f32 tensors borrowed from the networks (name, shape, values).
pub type Named<'a> = Vec<(String, Vec<usize>, &'a [f32])>;

/// `prefix.rest`, or `rest` for an empty prefix.
fn key(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}.{rest}")
    }
}

/// Collects a network's tensors under `prefix` (weights, BN running statistics, and, when
/// `adam_prefix` is given, Adam's moments under it).
pub fn collect<'a>(
    net: &'a Sequential,
    prefix: &str,
    adam_prefix: Option<&str>,
    out: &mut Named<'a>,
) {
    for (i, layer) in net.layers.iter().enumerate() {
        if let Layer::BatchNorm(bn) = layer {
            for (name, v) in [
                ("running_mean", &bn.running_mean),
                ("running_var", &bn.running_var),
            ] {
                out.push((key(prefix, &format!("net.{i}.{name}")), vec![bn.c], v));
            }
        }
        for (suffix, p) in layer.params() {
            out.push((
                key(prefix, &format!("net.{i}.{suffix}")),
                p.shape.clone(),
                &p.w,
            ));
            if let Some(a) = adam_prefix {
                for (moment, v) in [("exp_avg", &p.m), ("exp_avg_sq", &p.v)] {
                    out.push((format!("{a}.net.{i}.{suffix}.{moment}"), p.shape.clone(), v));
                }
            }
        }
    }
}

/// A borrowed f32 tensor for safetensors' writer, converted to bytes one tensor at a time
/// while it is written (so saving never holds a second copy of the whole state).
struct F32View<'a> {
    shape: Vec<usize>,
    data: &'a [f32],
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.data.len() * 4
    }
}

/// The one metadata key: safetensors stores metadata as a JSON object from a `HashMap`, whose
/// order is random per map, so all our metadata goes into one value as sorted `key=value`
/// lines, making the file bytes a function of the state alone.
const META_KEY: &str = "gan_train_host";

type Prepared<'a> = (Vec<(String, F32View<'a>)>, Option<HashMap<String, String>>);

/// The views and the packed metadata of a checkpoint.
fn prepare<'a>(tensors: &Named<'a>, metadata: HashMap<String, String>) -> Prepared<'a> {
    let mut lines: Vec<String> = metadata
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace('\n', " ")))
        .collect();
    lines.sort();
    let metadata: HashMap<String, String> = [(META_KEY.to_string(), lines.join("\n"))].into();
    let views = tensors
        .iter()
        .map(|(n, s, v)| {
            let view = F32View {
                shape: s.clone(),
                data: v,
            };
            (n.clone(), view)
        })
        .collect();
    (views, Some(metadata))
}

/// Writes tensors and metadata to `path` atomically, streaming one tensor at a time.
pub fn save(path: &Path, tensors: &Named, metadata: HashMap<String, String>) -> Result<(), String> {
    let (views, meta) = prepare(tensors, metadata);
    crate::io::write_atomic_with(path, |tmp| {
        safetensors::serialize_to_file(views, &meta, tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// A loaded checkpoint.
pub struct Loaded {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// The metadata strings.
    pub metadata: HashMap<String, String>,
}

/// Reads a checkpoint file.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses checkpoint bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Loaded, String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, expected F32", view.dtype()));
        }
        let v: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), v));
    }
    let raw = meta.metadata().clone().unwrap_or_default();
    // One packed entry (this version); earlier checkpoints kept one metadata key per value.
    let metadata = match raw.get(META_KEY) {
        Some(packed) => packed
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        None => raw,
    };
    Ok(Loaded { tensors, metadata })
}

impl Loaded {
    /// True when the checkpoint has tensors under `prefix.`.
    pub fn has(&self, prefix: &str) -> bool {
        let p = format!("{prefix}.");
        self.tensors.keys().any(|k| k.starts_with(&p))
    }

    fn take(&self, name: &str, shape: &[usize]) -> Result<&Vec<f32>, String> {
        let (s, v) = self
            .tensors
            .get(name)
            .ok_or_else(|| format!("checkpoint lacks {name}"))?;
        if s != shape {
            return Err(format!(
                "{name}: shape {s:?} in checkpoint, model expects {shape:?}"
            ));
        }
        Ok(v)
    }

    /// Copies tensors under `prefix` (and Adam moments under `adam_prefix`) into `net`.
    pub fn restore(
        &self,
        net: &mut Sequential,
        prefix: &str,
        adam_prefix: Option<&str>,
    ) -> Result<(), String> {
        for (i, layer) in net.layers.iter_mut().enumerate() {
            if let Layer::BatchNorm(bn) = layer {
                bn.running_mean.clone_from(
                    self.take(&key(prefix, &format!("net.{i}.running_mean")), &[bn.c])?,
                );
                bn.running_var
                    .clone_from(self.take(&key(prefix, &format!("net.{i}.running_var")), &[bn.c])?);
            }
            for (suffix, p) in layer.params_mut() {
                let shape = p.shape.clone();
                p.w.clone_from(self.take(&key(prefix, &format!("net.{i}.{suffix}")), &shape)?);
                if let Some(a) = adam_prefix {
                    p.m.clone_from(self.take(&format!("{a}.net.{i}.{suffix}.exp_avg"), &shape)?);
                    p.v.clone_from(self.take(&format!("{a}.net.{i}.{suffix}.exp_avg_sq"), &shape)?);
                }
            }
        }
        Ok(())
    }

    /// A metadata value parsed as `T`.
    pub fn meta<T: std::str::FromStr>(&self, key: &str) -> Result<T, String> {
        self.metadata
            .get(key)
            .ok_or_else(|| format!("checkpoint metadata lacks {key}"))?
            .parse()
            .map_err(|_| format!("checkpoint metadata {key} does not parse"))
    }
}
