//! `RemotingCommand`: one request or response of the remoting protocol (spec §1.2).

use bytes::Bytes;

use super::codes::response;
use super::header::{CommandHeader, HeaderError};

/// Flag bit 0: this command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: the receiver must not answer.
pub const FLAG_ONEWAY: i32 = 0x2;

/// The version we announce in commands we originate (`MQVersion` ordinal of 4.9.4, the first
/// version whose semantics we implement in full; Java servers key standard-JSON routes off it).
pub const OUR_VERSION: i32 = 401;

/// How the header of a frame is serialized (high byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    /// JSON header (type 0): what every client sends by default and what we always reply in.
    #[default]
    Json,
    /// ROCKETMQ compact binary header (type 1): accepted on input.
    RocketMq,
}

impl SerializeType {
    /// Wire code of the type.
    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// Type for a wire code, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }
}

/// Extension fields ("custom header") of a command: see [`super::ext_fields`]. Keys iterate in
/// the alphabetical order Java's fastjson emits, which makes encoded frames deterministic
/// (fixtures compare bytes).
pub use super::ext_fields::ExtFields;

/// One request or response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemotingCommand {
    /// Request code (requests) or response code (responses).
    pub code: i32,
    /// Sender's language name (`JAVA`, `GO`, `RUST`, ...). Kept as received, never validated.
    pub language: String,
    /// Sender's `MQVersion` ordinal.
    pub version: i32,
    /// Request id, echoed by the response.
    pub opaque: i32,
    /// Bit 0 = response, bit 1 = oneway.
    pub flag: i32,
    /// Optional human-readable text (errors).
    pub remark: Option<String>,
    /// Custom header fields.
    pub ext_fields: ExtFields,
    /// Opaque body bytes (may be empty).
    pub body: Bytes,
    /// How the header arrived (replies are always JSON).
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A new request with `code`, announcing ourselves as a Rust client of [`OUR_VERSION`].
    pub fn request(code: i32) -> Self {
        RemotingCommand {
            code,
            language: "RUST".into(),
            version: OUR_VERSION,
            ..Default::default()
        }
    }

    /// A new request carrying a typed custom header.
    pub fn request_with_header<H: CommandHeader>(code: i32, header: &H) -> Self {
        let mut cmd = Self::request(code);
        // Room for a SEND header (14 fields) without regrowing.
        cmd.ext_fields = ExtFields::with_capacity(16);
        header.write(&mut cmd.ext_fields);
        cmd
    }

    /// A new response with `code` and optional remark. The opaque is filled in by whoever sends
    /// it (the server copies it from the request).
    pub fn response(code: i32, remark: impl Into<Option<String>>) -> Self {
        RemotingCommand {
            code,
            language: "JAVA".into(),
            version: OUR_VERSION,
            flag: FLAG_RESPONSE,
            remark: remark.into(),
            ..Default::default()
        }
    }

    /// A SUCCESS response with no remark.
    pub fn success() -> Self {
        Self::response(response::SUCCESS, None)
    }

    /// A SUCCESS response carrying a typed custom header.
    pub fn success_with_header<H: CommandHeader>(header: &H) -> Self {
        let mut cmd = Self::success();
        cmd.ext_fields = ExtFields::with_capacity(8);
        header.write(&mut cmd.ext_fields);
        cmd
    }

    /// An error response with a remark saying what was wrong.
    pub fn error(code: i32, remark: impl Into<String>) -> Self {
        Self::response(code, Some(remark.into()))
    }

    /// Builder: set the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Builder: set the opaque.
    pub fn with_opaque(mut self, opaque: i32) -> Self {
        self.opaque = opaque;
        self
    }

    /// Builder: mark as oneway.
    pub fn oneway(mut self) -> Self {
        self.flag |= FLAG_ONEWAY;
        self
    }

    /// Builder: add one extension field.
    pub fn with_ext(mut self, key: &str, value: impl ToString) -> Self {
        self.ext_fields.insert_str(key, &value.to_string());
        self
    }

    /// True if this is a response (flag bit 0).
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// True if the sender expects no answer (flag bit 1).
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Turn this command into a response to a request with `opaque`.
    pub fn mark_response_to(&mut self, opaque: i32) {
        self.flag |= FLAG_RESPONSE;
        self.opaque = opaque;
    }

    /// One extension field, if present.
    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key)
    }

    /// Decode the custom header into a typed struct; missing required fields give an error
    /// naming the field (send it back as the remark of a response).
    pub fn decode_header<H: CommandHeader>(&self) -> Result<H, HeaderError> {
        H::read(&self.ext_fields)
    }

    /// Replace the custom header with a typed one.
    pub fn set_header<H: CommandHeader>(&mut self, header: &H) {
        self.ext_fields.clear();
        header.write(&mut self.ext_fields);
    }
}
