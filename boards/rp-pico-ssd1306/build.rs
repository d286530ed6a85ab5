//! Embeds the model and sizes the arena from it (see `boards/embed-model`).

fn main() {
    embed_model::embed_counter_model("../../weights/digits-tiny-i8.gan");
}
