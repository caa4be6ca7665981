"""Findings: from scores to what researchers publish: class shares per group with intervals
(``estimate``), the differences and trends between groups, audits that make them hold
(``audit``), and the HTML report (``report``)."""
