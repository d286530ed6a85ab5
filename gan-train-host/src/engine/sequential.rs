//! A sequential network that owns its activations, gradients and workspace, reused from step
//! to step (no allocation once the batch size is fixed).

use super::activation::*;
use super::batchnorm::BatchNorm2d;
use super::conv2d::Conv2d;
use super::conv_transpose2d::ConvTranspose2d;
use super::linear::{flatten_backward, flatten_forward, Linear};
use super::{Param, Tensor};

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
            Layer::Conv2d(c) => {
                let mut v = vec![("weight", &mut c.weight)];
                if let Some(b) = &mut c.bias {
                    v.push(("bias", b));
                }
                v
            }
            Layer::ConvTranspose2d(c) => {
                let mut v = vec![("weight", &mut c.weight)];
                if let Some(b) = &mut c.bias {
                    v.push(("bias", b));
                }
                v
            }
            Layer::BatchNorm(b) => vec![("weight", &mut b.gamma), ("bias", &mut b.beta)],
            Layer::Linear(l) => vec![("weight", &mut l.weight), ("bias", &mut l.bias)],
            _ => vec![],
        }
    }
}

/// Layers applied in order, with the buffers of one forward/backward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequential {
    /// The layers.
    pub layers: Vec<Layer>,
    /// `acts[0]` is the input; `acts[i + 1]` the output of layer `i`.
    acts: Vec<Tensor>,
    /// `grads[i]` is the gradient of the loss with respect to `acts[i]`.
    grads: Vec<Tensor>,
    cols: Vec<f32>,
}

impl Sequential {
    /// A network of `layers`.
    pub fn new(layers: Vec<Layer>) -> Self {
        let n = layers.len();
        Sequential {
            layers,
            acts: vec![Tensor::default(); n + 1],
            grads: vec![Tensor::default(); n + 1],
            cols: Vec::new(),
        }
    }

    /// The input tensor, to be filled before [`forward`](Self::forward).
    pub fn input_mut(&mut self) -> &mut Tensor {
        &mut self.acts[0]
    }

    /// The output of the last forward pass.
    pub fn output(&self) -> &Tensor {
        &self.acts[self.layers.len()]
    }

    /// The output of layer `i` in the last forward pass.
    pub fn activation(&self, i: usize) -> &Tensor {
        &self.acts[i + 1]
    }

    /// Runs every layer on the input (`train` selects BatchNorm's batch statistics).
    pub fn forward(&mut self, train: bool) -> &Tensor {
        for i in 0..self.layers.len() {
            let (done, rest) = self.acts.split_at_mut(i + 1);
            let (x, y) = (&done[i], &mut rest[0]);
            match &mut self.layers[i] {
                Layer::Conv2d(c) => c.forward(y, x, &mut self.cols),
                Layer::ConvTranspose2d(c) => c.forward(y, x, &mut self.cols),
                Layer::BatchNorm(b) => b.forward(y, x, train),
                Layer::Relu => relu_forward(y, x),
                Layer::LeakyRelu(s) => leaky_relu_forward(y, x, *s),
                Layer::Tanh => tanh_forward(y, x),
                Layer::Flatten => flatten_forward(y, x),
                Layer::Linear(l) => l.forward(y, x),
            }
        }
        self.output()
    }

    /// Back-propagates `dout` (the gradient at the output). Accumulates parameter gradients
    /// when `param_grads`; computes the input gradient when `input_grad` (returned).
    pub fn backward(&mut self, dout: &Tensor, input_grad: bool, param_grads: bool) -> &Tensor {
        let n = self.layers.len();
        self.grads[n].clone_from(dout);
        for i in (0..n).rev() {
            let want_dx = i > 0 || input_grad;
            let (lower, upper) = self.grads.split_at_mut(i + 1);
            let dy = &upper[0];
            let dx = if want_dx { Some(&mut lower[i]) } else { None };
            let (x, y) = (&self.acts[i], &self.acts[i + 1]);
            match &mut self.layers[i] {
                Layer::Conv2d(c) => c.backward(dx, dy, x, &mut self.cols, param_grads),
                Layer::ConvTranspose2d(c) => c.backward(dx, dy, x, &mut self.cols, param_grads),
                Layer::BatchNorm(b) => b.backward(dx, dy, param_grads),
                Layer::Linear(l) => l.backward(dx, dy, x, param_grads),
                Layer::Relu => dx.into_iter().for_each(|dx| relu_backward(dx, dy, y)),
                Layer::LeakyRelu(s) => dx
                    .into_iter()
                    .for_each(|dx| leaky_relu_backward(dx, dy, y, *s)),
                Layer::Tanh => dx.into_iter().for_each(|dx| tanh_backward(dx, dy, y)),
                Layer::Flatten => dx.into_iter().for_each(|dx| flatten_backward(dx, dy, x)),
            }
        }
        &self.grads[0]
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
