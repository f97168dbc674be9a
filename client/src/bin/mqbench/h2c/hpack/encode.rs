//! HPACK (RFC 7541) encoding of the client's request headers: a fixed set of fields whose
//! values, but for `:path` (one of a few methods) and `grpc-timeout`, never change on a
//! connection. Each field is sent once as a literal with incremental indexing and then as a
//! one- or two-byte indexed field; nothing is Huffman-coded and entries are never evicted by
//! insertion (a field that does not fit goes out as a literal without indexing), so the
//! encoder's model of the server's dynamic table is a list of what it inserted.

use std::collections::VecDeque;

use bytes::{BufMut, BytesMut};

/// The dynamic table's size before the server's SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2).
const DEFAULT_TABLE_SIZE: usize = 4096;
/// Index of the first dynamic table entry (the static table has 61, RFC 7541 §2.3.3).
const FIRST_DYNAMIC: usize = 62;
/// Static table: `:method: POST` and `:scheme: http` (RFC 7541 Appendix A).
const STATIC_METHOD_POST: usize = 3;
const STATIC_SCHEME_HTTP: usize = 6;
/// Static table names: `:authority`, `:path`, `content-type`.
const STATIC_AUTHORITY: usize = 1;
const STATIC_PATH: usize = 4;
const STATIC_CONTENT_TYPE: usize = 31;

/// One header field the encoder may keep in the dynamic table.
struct Field {
    name: Vec<u8>,
    value: Vec<u8>,
    /// The static table's index of the name (0: none, the name is sent as a literal).
    static_name: usize,
    /// When in the dynamic table: its insertion number (see [`Encoder::inserted`]).
    inserted_as: Option<usize>,
}

impl Field {
    /// The field's size in the dynamic table (RFC 7541 §4.1).
    fn size(&self) -> usize {
        self.name.len() + self.value.len() + 32
    }
}

/// The client's HPACK encoder for one connection.
pub struct Encoder {
    /// `:path` of each method (indexes `0..paths`), then the fixed fields in block order, then
    /// the `grpc-timeout` value that repeats ([`Encoder::new`]'s `timeout`).
    fields: Vec<Field>,
    paths: usize,
    /// Fields in the dynamic table, oldest first.
    table: VecDeque<usize>,
    /// Bytes of the dynamic table in use.
    size: usize,
    /// The table's maximum size as last signalled (or the protocol default).
    max: usize,
    /// A smaller maximum to signal at the start of the next header block.
    size_update: bool,
    /// Insertions so far: the newest entry has insertion number `inserted - 1` and dynamic
    /// index 62, one inserted `k` insertions earlier has index 62 + k.
    inserted: usize,
}

impl Encoder {
    /// An encoder for requests to `authority` whose paths are `paths`, with the connection's
    /// fixed `extra` fields (after `content-type` and `te`) and the one `grpc-timeout` value
    /// worth indexing.
    pub fn new(authority: &str, paths: &[String], extra: &[(&str, &str)], timeout: &str) -> Self {
        let field = |name: &str, value: &str, static_name: usize| Field {
            name: name.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            static_name,
            inserted_as: None,
        };
        let mut fields: Vec<Field> = paths.iter().map(|p| field(":path", p, STATIC_PATH)).collect();
        fields.push(field(":authority", authority, STATIC_AUTHORITY));
        fields.push(field("content-type", "application/grpc", STATIC_CONTENT_TYPE));
        fields.push(field("te", "trailers", 0));
        fields.extend(extra.iter().map(|(n, v)| field(n, v, 0)));
        fields.push(field("grpc-timeout", timeout, 0));
        Encoder {
            fields,
            paths: paths.len(),
            table: VecDeque::new(),
            size: 0,
            max: DEFAULT_TABLE_SIZE,
            size_update: false,
            inserted: 0,
        }
    }

    /// Apply the server's SETTINGS_HEADER_TABLE_SIZE. Only a decrease matters (the encoder
    /// never uses more than the default): it evicts the oldest entries down to the new size
    /// and is signalled at the start of the next block, as RFC 7541 §4.2 requires.
    pub fn set_max_table_size(&mut self, max: usize) {
        if max >= self.max {
            return;
        }
        self.max = max;
        self.size_update = true;
        while self.size > max {
            let f = self.table.pop_front().expect("entries account for the size");
            self.size -= self.fields[f].size();
            self.fields[f].inserted_as = None;
        }
    }

    /// Append the header block of a request to path `path` (an index into `new`'s `paths`)
    /// with `grpc-timeout: timeout`.
    pub fn encode(&mut self, path: usize, timeout: &str, out: &mut BytesMut) {
        assert!(path < self.paths, "unknown path");
        if std::mem::take(&mut self.size_update) {
            int(out, 0x20, 5, self.max);
        }
        int(out, 0x80, 7, STATIC_METHOD_POST);
        int(out, 0x80, 7, STATIC_SCHEME_HTTP);
        self.field(path, out);
        let timeout_field = self.fields.len() - 1;
        for f in self.paths..timeout_field {
            self.field(f, out);
        }
        if timeout.as_bytes() == self.fields[timeout_field].value {
            self.field(timeout_field, out);
        } else {
            // A value of this call only: never indexed, its name taken from the table when
            // the repeating value put it there.
            match self.index(timeout_field) {
                Some(i) => int(out, 0x00, 4, i),
                None => {
                    out.put_u8(0x00);
                    string(out, b"grpc-timeout");
                }
            }
            string(out, timeout.as_bytes());
        }
    }

    /// The dynamic table index of field `f`, if it is in the table.
    fn index(&self, f: usize) -> Option<usize> {
        self.fields[f].inserted_as.map(|n| FIRST_DYNAMIC + self.inserted - 1 - n)
    }

    /// Append field `f`: indexed if in the table, else a literal inserted into the table if
    /// it fits without evicting anything, else a literal without indexing.
    fn field(&mut self, f: usize, out: &mut BytesMut) {
        if let Some(i) = self.index(f) {
            int(out, 0x80, 7, i);
            return;
        }
        let size = self.fields[f].size();
        let indexing = self.size + size <= self.max;
        let (first, prefix) = if indexing { (0x40, 6) } else { (0x00, 4) };
        let field = &self.fields[f];
        if field.static_name != 0 {
            int(out, first, prefix, field.static_name);
        } else {
            out.put_u8(first);
            string(out, &field.name);
        }
        string(out, &field.value);
        if indexing {
            self.fields[f].inserted_as = Some(self.inserted);
            self.inserted += 1;
            self.size += size;
            self.table.push_back(f);
        }
    }
}

/// Append an integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the bits above it.
fn int(out: &mut BytesMut, first: u8, prefix: u8, mut v: usize) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.put_u8(first | v as u8);
        return;
    }
    out.put_u8(first | max as u8);
    v -= max;
    while v >= 128 {
        out.put_u8((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.put_u8(v as u8);
}

/// Append a string literal, not Huffman-coded (RFC 7541 §5.2).
fn string(out: &mut BytesMut, s: &[u8]) {
    int(out, 0x00, 7, s.len());
    out.put_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Vec<String> {
        ["SendMessage", "ReceiveMessage", "AckMessage"]
            .iter()
            .map(|m| format!("/apache.rocketmq.v2.MessagingService/{m}"))
            .collect()
    }

    fn encoder() -> Encoder {
        let extra = [("x-mq-client-id", "mqbench@42"), ("x-mq-language", "RUST")];
        Encoder::new("127.0.0.1:8081", &paths(), &extra, "10000m")
    }

    fn want(path: &str, timeout: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "127.0.0.1:8081"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("x-mq-client-id", "mqbench@42"),
            ("x-mq-language", "RUST"),
            ("grpc-timeout", timeout),
        ]
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
    }

    /// Encode calls to (path, timeout) in turn, decoding each block with an independent
    /// decoder (loona-hpack) as the server would; the sizes of the blocks.
    fn round_trip(
        enc: &mut Encoder,
        dec: &mut loona_hpack::Decoder,
        calls: &[(usize, &str)],
    ) -> Vec<usize> {
        let paths = paths();
        let mut sizes = Vec::new();
        for &(p, t) in calls {
            let mut b = BytesMut::new();
            enc.encode(p, t, &mut b);
            let got = dec.decode(&b).expect("decodable block");
            assert_eq!(got, want(&paths[p], t), "call to {} with {t}", paths[p]);
            sizes.push(b.len());
        }
        sizes
    }

    #[test]
    fn decodes_across_calls_and_gets_small() {
        let (mut enc, mut dec) = (encoder(), loona_hpack::Decoder::new());
        let calls = [
            (0, "10000m"),
            (0, "10000m"),
            (1, "12000m"),
            (1, "15000m"),
            (2, "10000m"),
            (0, "10000m"),
            (1, "12000m"),
            (2, "10000m"),
        ];
        let sizes = round_trip(&mut enc, &mut dec, &calls);
        // Once every field is in the table a send is 9 one-byte fields.
        assert_eq!(sizes[1], 9);
        assert_eq!(sizes[5], 9);
        assert_eq!(sizes[7], 9);
        // A varying timeout: an indexed name (past the 4-bit prefix: 2 bytes) and a literal
        // value of 6 bytes.
        assert_eq!(sizes[6], 8 + 2 + 1 + 6);
        assert!(sizes[0] > 100);
    }

    #[test]
    fn long_index_integers_and_a_literal_timeout_name() {
        // A varying timeout before the repeating one was ever sent: a literal name.
        let (mut enc, mut dec) = (encoder(), loona_hpack::Decoder::new());
        round_trip(&mut enc, &mut dec, &[(1, "300000m"), (1, "7m"), (0, "10000m"), (1, "9m")]);
        // Integers past the prefix (RFC 7541 §5.1): 1337 with a 5-bit prefix is C.1.2's example.
        let mut b = BytesMut::new();
        int(&mut b, 0x20, 5, 1337);
        assert_eq!(&b[..], &[0x3f, 0x9a, 0x0a]);
    }

    #[test]
    fn a_small_server_table_holds_what_fits_and_never_evicts() {
        let (mut enc, mut dec) = (encoder(), loona_hpack::Decoder::new());
        // Room for the first path (5 + 48 + 32 = 85), the authority (10 + 14 + 32 = 56) and
        // content-type (12 + 16 + 32 = 60): 201 of 210 bytes, no room for `te` (42) after.
        enc.set_max_table_size(210);
        dec.set_max_allowed_table_size(4096);
        let calls = [(0, "10000m"), (1, "12000m"), (0, "10000m"), (2, "10000m"), (0, "10000m")];
        let sizes = round_trip(&mut enc, &mut dec, &calls);
        assert_eq!(enc.size, 85 + 56 + 60);
        assert_eq!(enc.table.len(), 3);
        // Later sends: 3 indexed fields of 1 byte plus literals (never smaller than that).
        assert_eq!(sizes[2], sizes[4]);
        assert!(sizes[2] > 9);
    }

    #[test]
    fn a_table_shrunk_later_evicts_the_oldest_and_says_so() {
        let (mut enc, mut dec) = (encoder(), loona_hpack::Decoder::new());
        round_trip(&mut enc, &mut dec, &[(0, "10000m"), (1, "10000m"), (2, "10000m")]);
        let full = enc.size;
        enc.set_max_table_size(300);
        assert!(enc.size <= 300 && enc.size < full);
        let mut b = BytesMut::new();
        enc.encode(0, "10000m", &mut b);
        // The block opens with the size update.
        assert_eq!(b[0] & 0xe0, 0x20);
        let got = dec.decode(&b).expect("decodable block");
        assert_eq!(got, want(&paths()[0], "10000m"));
        round_trip(&mut enc, &mut dec, &[(1, "5m"), (2, "10000m"), (0, "10000m")]);
        // A table of 0: every field a literal, still decodable.
        enc.set_max_table_size(0);
        round_trip(&mut enc, &mut dec, &[(0, "10000m"), (1, "3m"), (2, "10000m")]);
        assert!(enc.table.is_empty());
    }
}
