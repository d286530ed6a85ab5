//! A sequential network that owns its activations, gradients and workspace, reused from step
//! to step (no allocation once the batch size is fixed).

use super::activation::*;
use super::batchnorm::BatchNorm2d;
use super::conv2d::Conv2d;
use super::conv_transpose2d::ConvTranspose2d;
use super::linear::{flatten_backward, flatten_forward, Linear};
use super::{Param, Tensor};

/// Runs an elementwise layer (BatchNorm or an activation) on `t` in place.
fn run_in_place(layer: &mut Layer, t: &mut Tensor, train: bool) {
    match layer {
        Layer::BatchNorm(b) => b.forward(t, train),
        Layer::Relu => relu(t),
        Layer::LeakyRelu(s) => leaky_relu(t, *s),
        Layer::Tanh => tanh(t),
        _ => unreachable!("only elementwise layers run in place"),
    }
}

/// One layer of a [`Sequential`].
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Convolution.
    Conv2d(Conv2d),
    /// Transposed convolution.
    ConvTranspose2d(ConvTranspose2d),
    /// Batch normalisation.
    BatchNorm(BatchNorm2d),
    /// ReLU.
    Relu,
    /// LeakyReLU with this negative slope.
    LeakyRelu(f32),
    /// Tanh.
    Tanh,
    /// `[C, N, H, W]` -> `[C*H*W, N, 1, 1]`.
    Flatten,
    /// Fully connected.
    Linear(Linear),
}

impl Layer {
    /// The layer's parameters with their PyTorch suffixes (`weight`, `bias`, ...).
    pub fn params_mut(&mut self) -> Vec<(&'static str, &mut Param)> {
        match self {
            Layer::Conv2d(Conv2d { weight, bias, .. })
            | Layer::ConvTranspose2d(ConvTranspose2d { weight, bias, .. }) => {
                std::iter::once(("weight", weight))
                    .chain(bias.as_mut().map(|b| ("bias", b)))
                    .collect()
            }
            Layer::BatchNorm(b) => vec![("weight", &mut b.gamma), ("bias", &mut b.beta)],
            Layer::Linear(l) => vec![("weight", &mut l.weight), ("bias", &mut l.bias)],
            _ => vec![],
        }
    }

    /// [`params_mut`](Self::params_mut), read-only.
    pub fn params(&self) -> Vec<(&'static str, &Param)> {
        match self {
            Layer::Conv2d(Conv2d { weight, bias, .. })
            | Layer::ConvTranspose2d(ConvTranspose2d { weight, bias, .. }) => {
                std::iter::once(("weight", weight))
                    .chain(bias.as_ref().map(|b| ("bias", b)))
                    .collect()
            }
            Layer::BatchNorm(b) => vec![("weight", &b.gamma), ("bias", &b.beta)],
            Layer::Linear(l) => vec![("weight", &l.weight), ("bias", &l.bias)],
            _ => vec![],
        }
    }
}

impl Layer {
    /// Whether the layer can overwrite its input with its output.
    fn works_in_place(&self) -> bool {
        matches!(
            self,
            Layer::BatchNorm(_) | Layer::Relu | Layer::LeakyRelu(_) | Layer::Tanh
        )
    }
    /// Whether the layer's backward reads its own output.
    fn backward_reads_output(&self) -> bool {
        matches!(self, Layer::Relu | Layer::LeakyRelu(_) | Layer::Tanh)
    }
}

/// Layers applied in order, with the buffers of one forward/backward pass.
///
/// **Memory.** BatchNorm and the activations run in place on the output of the layer before
/// them whenever that layer's backward does not need its own output (Conv → BatchNorm → ReLU
/// share one buffer), and never on the network's input. Backward keeps just two gradient
/// buffers: the elementwise layers turn the gradient at their output into the gradient at their
/// input in place, and every other layer writes its input gradient into the other buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequential {
    /// The layers.
    pub layers: Vec<Layer>,
    /// Activation buffers; `acts[0]` is the input.
    acts: Vec<Tensor>,
    /// `slot[i]`: the buffer holding layer `i`'s output (its input's, when in place).
    slot: Vec<usize>,
    /// Whether layer `i` runs in place.
    in_place: Vec<bool>,
    /// The two gradient buffers, and which one holds the newest gradient.
    grads: [Tensor; 2],
    grad_at: usize,
}

impl Sequential {
    /// A network of `layers`.
    pub fn new(layers: Vec<Layer>) -> Self {
        let (mut slot, mut in_place) = (Vec::new(), Vec::new());
        let mut slots = 1;
        for (i, layer) in layers.iter().enumerate() {
            let input = if i == 0 { 0 } else { slot[i - 1] };
            let ok = layer.works_in_place() && input != 0 && !layers[i - 1].backward_reads_output();
            in_place.push(ok);
            if ok {
                slot.push(input);
            } else {
                slot.push(slots);
                slots += 1;
            }
        }
        Sequential {
            layers,
            acts: vec![Tensor::default(); slots],
            slot,
            in_place,
            grads: [Tensor::default(), Tensor::default()],
            grad_at: 0,
        }
    }

    /// The input tensor, to be filled before [`forward`](Self::forward).
    pub fn input_mut(&mut self) -> &mut Tensor {
        &mut self.acts[0]
    }

    /// The output of the last forward pass.
    pub fn output(&self) -> &Tensor {
        match self.slot.last() {
            Some(&s) => &self.acts[s],
            None => &self.acts[0],
        }
    }

    /// The output of layer `i` in the last forward pass, or of a later layer that ran in place
    /// on it.
    pub fn activation(&self, i: usize) -> &Tensor {
        &self.acts[self.slot[i]]
    }

    fn input_slot(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.slot[i - 1]
        }
    }

    /// Runs every layer on the input (`train` selects BatchNorm's batch statistics).
    pub fn forward(&mut self, train: bool) -> &Tensor {
        for i in 0..self.layers.len() {
            let (src, dst) = (self.input_slot(i), self.slot[i]);
            if self.in_place[i] {
                let t = &mut self.acts[dst];
                run_in_place(&mut self.layers[i], t, train);
                continue;
            }
            let (done, rest) = self.acts.split_at_mut(dst);
            let (x, y) = (&done[src], &mut rest[0]);
            match &mut self.layers[i] {
                Layer::Conv2d(c) => c.forward(y, x),
                Layer::ConvTranspose2d(c) => c.forward(y, x),
                Layer::Flatten => flatten_forward(y, x),
                Layer::Linear(l) => l.forward(y, x),
                layer => {
                    y.clone_from(x);
                    run_in_place(layer, y, train);
                }
            }
        }
        self.output()
    }

    /// Back-propagates `dout` (the gradient at the output). Accumulates parameter gradients
    /// when `param_grads`; computes the input gradient when `input_grad` (returned).
    pub fn backward(&mut self, dout: &Tensor, input_grad: bool, param_grads: bool) -> &Tensor {
        self.grad_at = 0;
        self.grads[0].clone_from(dout);
        self.backward_held(input_grad, param_grads)
    }

    /// Hands this network's gradient buffers, and the gradient they hold, to `to` (taking
    /// `to`'s in exchange). The trainer lends the discriminator's buffers, holding the
    /// gradient at its input, to the generator, whose [`backward_held`](Self::backward_held)
    /// then starts from that gradient: one pair of buffers serves both networks.
    pub fn lend_gradients(&mut self, to: &mut Sequential) {
        std::mem::swap(&mut self.grads, &mut to.grads);
        std::mem::swap(&mut self.grad_at, &mut to.grad_at);
    }

    /// [`backward`](Self::backward) from the gradient at the output already held in this
    /// network's buffers (see [`lend_gradients`](Self::lend_gradients)).
    pub fn backward_held(&mut self, input_grad: bool, param_grads: bool) -> &Tensor {
        let n = self.layers.len();
        let out = self.output();
        assert_eq!(
            (out.c, out.n, out.h, out.w),
            {
                let d = &self.grads[self.grad_at];
                (d.c, d.n, d.h, d.w)
            },
            "backward: the gradient's shape is not the output's"
        );
        for i in (0..n).rev() {
            let want_dx = i > 0 || input_grad;
            let (x, y) = (&self.acts[self.input_slot(i)], &self.acts[self.slot[i]]);
            let [g0, g1] = &mut self.grads;
            let (dy, other) = if self.grad_at == 0 {
                (g0, g1)
            } else {
                (g1, g0)
            };
            let dx = want_dx.then_some(&mut *other);
            let wrote_other = match &mut self.layers[i] {
                Layer::Conv2d(c) => {
                    c.backward(dx, dy, x, param_grads);
                    true
                }
                Layer::ConvTranspose2d(c) => {
                    c.backward(dx, dy, x, param_grads);
                    true
                }
                Layer::Linear(l) => {
                    l.backward(dx, dy, x, param_grads);
                    true
                }
                Layer::Flatten => {
                    if let Some(dx) = dx {
                        flatten_backward(dx, dy, x);
                    }
                    true
                }
                Layer::BatchNorm(b) => {
                    b.backward(dy, want_dx, param_grads);
                    false
                }
                Layer::Relu => {
                    relu_backward(dy, y);
                    false
                }
                Layer::LeakyRelu(s) => {
                    leaky_relu_backward(dy, y, *s);
                    false
                }
                Layer::Tanh => {
                    tanh_backward(dy, y);
                    false
                }
            };
            if wrote_other {
                self.grad_at ^= 1;
            }
        }
        &self.grads[self.grad_at]
    }

    /// Gives the class of each sample to the layers that take label planes.
    pub fn set_labels(&mut self, labels: &[u8]) {
        for layer in &mut self.layers {
            if let Layer::Conv2d(c) = layer {
                if c.label_planes > 0 {
                    c.set_labels(labels);
                }
            }
        }
    }

    /// Every parameter, in layer order.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.params_mut().into_iter().map(|(_, p)| p))
            .collect()
    }

    /// Zeroes every parameter gradient.
    pub fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.g.fill(0.0);
        }
    }

    /// Number of trainable values.
    pub fn num_params(&mut self) -> usize {
        self.params_mut().iter().map(|p| p.w.len()).sum()
    }
}
