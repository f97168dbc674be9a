//! rmq name server.
