//! The ROCKETMQ binary header (serialize type 1, spec §1.3). Decode is required (Java and Go
//! clients can be configured to send it); encode exists for tests and fixtures, since we always
//! reply in JSON.

use super::command::{ExtFields, RemotingCommand, SerializeType};
use super::json_header::LANGUAGES;

/// Why a binary header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryHeaderError {
    /// The header ended before a field it announced.
    #[error("binary header truncated at byte {0}")]
    Truncated(usize),
    /// A string field is not UTF-8.
    #[error("binary header string at byte {0} is not UTF-8")]
    NotUtf8(usize),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BinaryHeaderError> {
        // Lengths come from the peer: check against what we have before slicing.
        if self.buf.len() - self.pos < n {
            return Err(BinaryHeaderError::Truncated(self.pos));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, BinaryHeaderError> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, BinaryHeaderError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn i32(&mut self) -> Result<i32, BinaryHeaderError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn str(&mut self, n: usize) -> Result<String, BinaryHeaderError> {
        self.str_ref(n).map(str::to_string)
    }
    fn str_ref(&mut self, n: usize) -> Result<&'a str, BinaryHeaderError> {
        let at = self.pos;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| BinaryHeaderError::NotUtf8(at))
    }
}

/// Decode a binary header into a command (body left empty).
pub fn decode(buf: &[u8]) -> Result<RemotingCommand, BinaryHeaderError> {
    let mut r = Reader { buf, pos: 0 };
    let code = r.i16()? as i32;
    let lang = r.u8()?;
    let version = r.i16()? as i32;
    let opaque = r.i32()?;
    let flag = r.i32()?;
    let remark_len = r.i32()?.max(0) as usize;
    let remark = if remark_len > 0 { Some(r.str(remark_len)?) } else { None };
    let ext_len = r.i32()?.max(0) as usize;
    let ext_bytes = r.take(ext_len)?;
    let mut ext_fields = ExtFields::new();
    let mut er = Reader { buf: ext_bytes, pos: 0 };
    while er.pos < ext_bytes.len() {
        let kl = er.i16()?.max(0) as usize;
        let k = er.str_ref(kl)?;
        let vl = er.i32()?.max(0) as usize;
        let v = er.str_ref(vl)?;
        ext_fields.insert_str(k, v);
    }
    Ok(RemotingCommand {
        code,
        language: LANGUAGES.get(lang as usize).copied().unwrap_or("OTHER").to_string(),
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: Default::default(),
        serialize_type: SerializeType::RocketMq,
    })
}

/// Append the binary header of `cmd` to `out`.
pub fn encode(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    out.extend_from_slice(&(cmd.code as i16).to_be_bytes());
    out.push(LANGUAGES.iter().position(|l| *l == cmd.language).unwrap_or(7) as u8);
    out.extend_from_slice(&(cmd.version as i16).to_be_bytes());
    out.extend_from_slice(&cmd.opaque.to_be_bytes());
    out.extend_from_slice(&cmd.flag.to_be_bytes());
    match &cmd.remark {
        Some(r) => {
            out.extend_from_slice(&(r.len() as i32).to_be_bytes());
            out.extend_from_slice(r.as_bytes());
        }
        None => out.extend_from_slice(&0i32.to_be_bytes()),
    }
    let mut ext = Vec::new();
    for (k, v) in &cmd.ext_fields {
        ext.extend_from_slice(&(k.len() as i16).to_be_bytes());
        ext.extend_from_slice(k.as_bytes());
        ext.extend_from_slice(&(v.len() as i32).to_be_bytes());
        ext.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(&(ext.len() as i32).to_be_bytes());
    out.extend_from_slice(&ext);
}
