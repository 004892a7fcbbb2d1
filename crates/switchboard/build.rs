//! Rebuilds the crate when a migration file is added or changed: `sqlx::migrate!` embeds the
//! migrations at compile time, and Cargo does not otherwise know to look at that folder, so a new
//! migration beside unchanged Rust code would silently be left out of the binary.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
