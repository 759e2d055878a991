//! The password floor: like Database Lab Engine, a clone's password must carry about
//! 60 bits of entropy. The estimate is the one password validators commonly use: the
//! size of the alphabet the password draws from (lower, upper, digits, symbols) raised
//! to its length, where a character repeated more than twice in a row or a run of
//! consecutive characters ("abc", "123") counts once.

/// The floor, in bits.
pub const MIN_BITS: f64 = 60.0;

/// Estimated entropy of a password, in bits.
pub fn entropy_bits(password: &str) -> f64 {
    let chars: Vec<char> = password.chars().collect();
    let mut alphabet = 0u32;
    if chars.iter().any(|c| c.is_ascii_lowercase()) {
        alphabet += 26;
    }
    if chars.iter().any(|c| c.is_ascii_uppercase()) {
        alphabet += 26;
    }
    if chars.iter().any(|c| c.is_ascii_digit()) {
        alphabet += 10;
    }
    if chars.iter().any(|c| !c.is_ascii_alphanumeric()) {
        alphabet += 33;
    }
    let mut length = 0usize;
    for (i, c) in chars.iter().enumerate() {
        let repeat = i >= 2 && chars[i - 1] == *c && chars[i - 2] == *c;
        let run = i >= 2
            && (chars[i - 1] as i64 - chars[i - 2] as i64) == 1
            && (*c as i64 - chars[i - 1] as i64) == 1;
        if !repeat && !run {
            length += 1;
        }
    }
    if alphabet == 0 {
        return 0.0;
    }
    length as f64 * (alphabet as f64).log2()
}

/// Why a clone's password is refused, and what to send instead.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("db.password is required")]
    Missing,
    #[error(
        "db.password is too weak: about {bits:.0} bits of entropy, at least {MIN_BITS:.0} are \
         required; use a longer random password (for example 20 random letters and digits)"
    )]
    Weak { bits: f64 },
}

/// Ok, or why the password is refused.
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Missing);
    }
    let bits = entropy_bits(password);
    if bits < MIN_BITS {
        return Err(PasswordError::Weak { bits });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused() {
        assert!(check_password("").is_err());
        assert!(check_password("password").is_err());
        assert!(check_password("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_err());
        assert!(check_password("abcdefghijklmnopqrstuvwxyz").is_err());
    }

    #[test]
    fn random_passwords_pass() {
        let generated = crate::secret::Secret::generate(32);
        assert!(check_password(generated.expose()).is_ok());
        assert!(check_password("Tr0ub4dor&3-horse-Battery").is_ok());
        assert!(entropy_bits("k3Jd9sLq0Zp2Xw") > 60.0);
    }
}
