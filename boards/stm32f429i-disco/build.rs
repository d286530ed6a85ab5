//! Embeds the model and sizes the arena from it (see `boards/embed-model`). The F429 has an
//! FPU, so the f16 model works too: `GAN_MODEL=../../weights/digits-tiny-f16.gan`.

fn main() {
    embed_model::embed_counter_model("../../weights/digits-tiny-i8.gan");
}
