"""Proposal generators: the RPN and the helpers that turn its outputs into proposals."""

from .proposal_utils import add_ground_truth_to_proposals, find_top_rpn_proposals
from .rpn import RPN, StandardRPNHead

__all__ = [
    "RPN",
    "StandardRPNHead",
    "add_ground_truth_to_proposals",
    "find_top_rpn_proposals",
]
