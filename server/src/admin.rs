//! `magictime admin …`: account tasks from the shell (the first admin, typically).
use std::{io::BufRead, path::PathBuf};

use clap::Subcommand;
use magictime_app::{
    ssr::{auth, db},
    types::Role,
};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an account; the password is read from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long, env = "MAGICTIME_DATA_DIR", default_value = "./var")]
        data_dir: PathBuf,
        #[command(flatten)]
        database: crate::serve::DatabaseArgs,
    },
}

pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Create {
            email,
            role,
            data_dir,
            database,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("unknown role {role:?} (admin, researcher, annotator)")
            })?;
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let pool = db::open(&database.url(&data_dir)).await?;
            let user = auth::create_user(&pool, &email, password, role).await?;
            println!("created {} ({}) id {}", user.email, user.role, user.id);
            pool.close().await;
            Ok(())
        }
    }
}
