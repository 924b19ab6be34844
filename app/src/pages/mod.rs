//! One file per page.
pub mod admin;
pub mod annotate;
pub mod compare;
pub mod datasets;
pub mod gallery;
pub mod generate;
pub mod generation;
pub mod home;
pub mod jobs;
pub mod login;
pub mod not_found;
pub mod participate;
pub mod setup;
pub mod studies;
pub mod study;
