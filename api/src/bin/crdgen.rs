//! Prints the Thumbnail CustomResourceDefinition as YAML (`make crds` writes it to crds/).
fn main() {
    print!("{}", thumbnail_api::crd::crd_yaml());
}
