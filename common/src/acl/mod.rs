//! Access control, ACL 1.0 compatible (docs/acl-protocol.md): the request signature
//! clients add ([`Credentials::sign`]) and servers check, the `plain_acl.yml` accounts
//! ([`PlainAcl`], reloaded by [`AclFile`]) and the per-request check ([`AclValidator`]).

mod address;
#[cfg(test)]
mod code_table;
mod file;
mod grpc;
mod perm;
mod plain;
mod signature;
mod validator;

pub use address::AddressPattern;
pub use file::{AclFile, SETTLE};
pub use grpc::{check_grpc_authorization, parse_grpc_authorization, GrpcAuthorization, GrpcCaller};
pub use perm::Perm;
pub use plain::{Account, PlainAcl, Resource, MAX_FILE_BYTES, RETRY_PREFIX};
pub use signature::{
    sign_content, signature, verify, verify_with, Credentials, SigningKey, ACCESS_KEY,
    SECURITY_TOKEN, SIGNATURE, UNIQUE_KEY_QUERY,
};
pub use validator::{
    AclDenied, AclValidator, AdminCodes, Role, BROKER_ADMIN_CODES, CONTROLLER_READ_CODES,
    DENIAL_PREFIX, NAMESRV_ADMIN_CODES,
};

/// Environment variable a client reads its access key from when none is configured.
pub const ENV_ACCESS_KEY: &str = "RMQ_ACCESS_KEY";
/// Environment variable a client reads its secret key from when none is configured.
pub const ENV_SECRET_KEY: &str = "RMQ_SECRET_KEY";

/// The request check of a server, or `None` when `aclEnable` is off: loads the ACL file
/// (`aclFilePath`, default `plain_acl.yml` beside `config_file`) and keeps it current until
/// `stop` fires. An unreadable or invalid file at start is an error.
pub fn server_validator(
    cfg: &crate::config::SecurityConfig,
    config_file: Option<&std::path::Path>,
    role: Role,
    trace_topic: &str,
    stop: tokio_util::sync::CancellationToken,
) -> Result<Option<std::sync::Arc<AclValidator>>, String> {
    if !cfg.acl_enable {
        return Ok(None);
    }
    let file = AclFile::load(&cfg.acl_file(config_file))?;
    file.spawn_reloader(cfg.acl_reload_interval(), stop);
    Ok(Some(std::sync::Arc::new(AclValidator::new(role, file.shared(), trace_topic))))
}
