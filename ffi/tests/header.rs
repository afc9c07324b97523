//! The committed C header is what cbindgen makes of the source today.

use std::path::Path;

#[test]
fn the_committed_header_is_generated_from_the_source() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .unwrap();
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = crate_dir.join("include/bluezone.h");
    if std::env::var_os("BLUEZONE_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/bluezone.h is not what the source gives: run BLUEZONE_WRITE_HEADER=1 cargo test -p bluezone-ffi --test header"
    );
}
