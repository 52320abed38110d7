//! When HTTP Basic stops working: the sunset (RFC 8594) and brownout windows before it.

use crate::UnixSeconds;

/// What the configuration says about the end of Basic authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SunsetPolicy {
    /// From this instant Basic is refused for good; `None`: no date set yet.
    pub sunset_at: Option<UnixSeconds>,
    /// `[start, end)` intervals before the sunset in which Basic is already refused, so
    /// integrations still on Basic fail loudly while there is time to migrate.
    pub brownouts: Vec<(UnixSeconds, UnixSeconds)>,
    /// Where customers read how to migrate (the `Link: rel="deprecation"` target).
    pub guide_url: Option<String>,
    /// The `Deprecation` date (RFC 9745); `None`: each credential's creation, the moment
    /// Tessera took over its Basic authentication.
    pub deprecated_at: Option<UnixSeconds>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunsetDecision {
    /// Basic is accepted (with the deprecation headers).
    Accepted,
    /// Inside a brownout window that ends at `until`.
    Brownout { until: UnixSeconds },
    /// The sunset has passed.
    Ended { at: UnixSeconds },
}

impl SunsetPolicy {
    pub fn decide(&self, now: UnixSeconds) -> SunsetDecision {
        if let Some(at) = self.sunset_at.filter(|at| now >= *at) {
            return SunsetDecision::Ended { at };
        }
        match self
            .brownouts
            .iter()
            .find(|(start, end)| *start <= now && now < *end)
        {
            Some(&(_, until)) => SunsetDecision::Brownout { until },
            None => SunsetDecision::Accepted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brownouts_then_the_sunset() {
        let p = SunsetPolicy {
            sunset_at: Some(1000),
            brownouts: vec![(100, 200), (500, 600)],
            ..SunsetPolicy::default()
        };
        assert_eq!(p.decide(99), SunsetDecision::Accepted);
        assert_eq!(p.decide(100), SunsetDecision::Brownout { until: 200 });
        assert_eq!(p.decide(199), SunsetDecision::Brownout { until: 200 });
        assert_eq!(p.decide(200), SunsetDecision::Accepted);
        assert_eq!(p.decide(550), SunsetDecision::Brownout { until: 600 });
        assert_eq!(p.decide(999), SunsetDecision::Accepted);
        assert_eq!(p.decide(1000), SunsetDecision::Ended { at: 1000 });
        assert_eq!(
            SunsetPolicy::default().decide(i64::MAX),
            SunsetDecision::Accepted
        );
    }
}
