//! `embed_migrations!` reads `migrations/` at compile time; without this, a migration
//! added or changed there would not rebuild the crate, and binaries would run without it.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
