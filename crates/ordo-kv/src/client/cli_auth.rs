//! `ordo auth`, `ordo user` and `ordo role`: etcdctl's verbs for the auth
//! switch, users and roles; and `--user NAME[:PASSWORD]`, which every
//! client verb takes (a global flag: no verb may name an argument `user`,
//! or clap would fill both from one value).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use super::cli::ConnectionArgs;
use super::{ClientError, Credentials};
use crate::api::PermissionJson;

/// Environment variable with the password for `--user NAME`.
pub(crate) const PASSWORD_ENV: &str = "ORDO_PASSWORD";

/// `ordo auth`.
#[derive(Debug, clap::Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub action: AuthAction,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo auth ...`.
#[derive(Debug, clap::Subcommand)]
pub enum AuthAction {
    /// Require authentication (needs the user root with the role root).
    Enable,
    /// Stop requiring it (root only).
    Disable,
    /// Whether it is on, and the auth revision.
    Status,
}

/// `ordo user`.
#[derive(Debug, clap::Args)]
pub struct UserArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub action: UserAction,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo user ...`.
#[derive(Debug, clap::Subcommand)]
pub enum UserAction {
    /// Add user NAME with PASSWORD (NAME:PASSWORD; the password is asked
    /// for when omitted), or certificate-only with --no-password.
    Add {
        /// NAME or NAME:PASSWORD.
        #[arg(value_name = "NAME[:PASSWORD]")]
        account: String,
        /// The user signs in only with a client certificate.
        #[arg(long)]
        no_password: bool,
    },
    /// Delete a user.
    Delete {
        /// The user.
        name: String,
    },
    /// Change a user's password (NAME:PASSWORD, or asked for).
    Passwd {
        /// NAME or NAME:PASSWORD.
        #[arg(value_name = "NAME[:PASSWORD]")]
        account: String,
    },
    /// Give a user a role.
    GrantRole {
        /// The user.
        name: String,
        /// The role.
        role: String,
    },
    /// Take a role from a user.
    RevokeRole {
        /// The user.
        name: String,
        /// The role.
        role: String,
    },
    /// Every user's name.
    List,
    /// A user's roles.
    Get {
        /// The user.
        name: String,
    },
}

/// `ordo role`.
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    #[command(subcommand)]
    #[allow(missing_docs)]
    pub action: RoleAction,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub connection: ConnectionArgs,
}

/// `ordo role ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RoleAction {
    /// Add a role without permissions.
    Add {
        /// The role.
        name: String,
    },
    /// Delete a role (and take it from its users).
    Delete {
        /// The role.
        name: String,
    },
    /// Grant KIND (read, write, readwrite) on KEY, every key under
    /// --prefix KEY, or [KEY, RANGE_END).
    Grant {
        /// The role.
        name: String,
        /// read, write or readwrite.
        kind: String,
        /// The key, the prefix (with --prefix), or the range's start.
        key: String,
        /// The end of a range (etcd's convention).
        range_end: Option<String>,
        /// KEY is a prefix.
        #[arg(long)]
        prefix: bool,
    },
    /// Take the permission on exactly KEY, --prefix KEY, or [KEY, RANGE_END).
    Revoke {
        /// The role.
        name: String,
        /// The key, the prefix (with --prefix), or the range's start.
        key: String,
        /// The end of a range.
        range_end: Option<String>,
        /// KEY is a prefix.
        #[arg(long)]
        prefix: bool,
    },
    /// Every role's name.
    List,
    /// A role's permissions.
    Get {
        /// The role.
        name: String,
    },
}

/// `NAME[:PASSWORD]` as credentials: the password after the first colon,
/// else [`PASSWORD_ENV`], else asked for on the terminal.
///
/// # Errors
/// No password given and none can be asked for (no terminal).
pub(crate) fn credentials(user: &str) -> Result<Credentials, ClientError> {
    let (name, password) = match user.split_once(':') {
        Some((name, password)) => (name, password.to_owned()),
        None => (user, password_for(user)?),
    };
    if name.is_empty() {
        return Err(ClientError::invalid("--user needs a name"));
    }
    Ok(Credentials {
        name: name.to_owned(),
        password,
    })
}

fn password_for(name: &str) -> Result<String, ClientError> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(ClientError::invalid(format!(
            "no password for {name:?}: give NAME:PASSWORD or set {PASSWORD_ENV}"
        )));
    }
    // The password shows as typed: no terminal control without a crate
    // for it; use ORDO_PASSWORD where that matters.
    eprint!("password for {name}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|error| ClientError::invalid(format!("reading the password: {error}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Runs `ordo auth`.
pub(crate) async fn auth(args: AuthArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    match args.action {
        AuthAction::Enable => {
            let answer = client.auth_enable().await?;
            println!(
                "Authentication enabled (auth revision {})",
                answer.auth_revision
            );
        }
        AuthAction::Disable => {
            let answer = client.auth_disable().await?;
            println!(
                "Authentication disabled (auth revision {})",
                answer.auth_revision
            );
        }
        AuthAction::Status => {
            let status = client.auth_status().await?;
            println!(
                "enabled={} auth_revision={}",
                status.enabled, status.auth_revision
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `ordo user`.
pub(crate) async fn user(args: UserArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    match args.action {
        UserAction::Add {
            account,
            no_password,
        } => {
            let (name, password) = if no_password {
                (account, None)
            } else {
                let credentials = credentials(&account)?;
                (credentials.name, Some(credentials.password))
            };
            client.user_add(&name, password.as_deref()).await?;
            println!("User {name} created");
        }
        UserAction::Delete { name } => {
            client.user_delete(&name).await?;
            println!("User {name} deleted");
        }
        UserAction::Passwd { account } => {
            let credentials = credentials(&account)?;
            client
                .user_passwd(&credentials.name, Some(&credentials.password))
                .await?;
            println!("Password updated");
        }
        UserAction::GrantRole { name, role } => {
            client.user_grant_role(&name, &role).await?;
            println!("Role {role} is granted to user {name}");
        }
        UserAction::RevokeRole { name, role } => {
            client.user_revoke_role(&name, &role).await?;
            println!("Role {role} is revoked from user {name}");
        }
        UserAction::List => {
            for name in client.user_list().await?.names {
                println!("{name}");
            }
        }
        UserAction::Get { name } => {
            let user = client.user_get(&name).await?;
            println!("User: {}", user.name);
            println!("Roles: {}", user.roles.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `ordo role`.
pub(crate) async fn role(args: RoleArgs) -> anyhow::Result<ExitCode> {
    let client = args.connection.client()?;
    match args.action {
        RoleAction::Add { name } => {
            client.role_add(&name).await?;
            println!("Role {name} created");
        }
        RoleAction::Delete { name } => {
            client.role_delete(&name).await?;
            println!("Role {name} deleted");
        }
        RoleAction::Grant {
            name,
            kind,
            key,
            range_end,
            prefix,
        } => {
            let permission = permission(kind, key, range_end, prefix)?;
            client.role_grant(&name, &permission).await?;
            println!("Role {name} updated");
        }
        RoleAction::Revoke {
            name,
            key,
            range_end,
            prefix,
        } => {
            let permission = permission(String::new(), key, range_end, prefix)?;
            client.role_revoke(&name, &permission).await?;
            println!("Permission of role {name} is revoked");
        }
        RoleAction::List => {
            for name in client.role_list().await?.names {
                println!("{name}");
            }
        }
        RoleAction::Get { name } => {
            let role = client.role_get(&name).await?;
            println!("Role {}", role.name);
            for permission in role.permissions {
                let range = match permission.range_end {
                    Some(end) => format!("[{}, {})", permission.key, end),
                    None => permission.key,
                };
                println!("{}\t{range}", permission.kind);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn permission(
    kind: String,
    key: String,
    range_end: Option<String>,
    prefix: bool,
) -> anyhow::Result<PermissionJson> {
    if prefix {
        anyhow::ensure!(range_end.is_none(), "give --prefix or RANGE_END, not both");
        return Ok(PermissionJson {
            kind,
            key: String::new(),
            range_end: None,
            prefix: Some(key),
        });
    }
    Ok(PermissionJson {
        kind,
        key,
        range_end,
        prefix: None,
    })
}
