//! remoting (in progress).
