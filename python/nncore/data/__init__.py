"""Data loading: datasets, the DataLoader and feature scalers (PyTorch / scikit-learn names)."""

from nncore.data import datasets
from nncore.data.dataset import Dataset, Subset, TensorDataset, random_split
from nncore.data.loader import DataLoader, default_collate
from nncore.data.preprocessing import MinMaxScaler, StandardScaler

__all__ = [
    "DataLoader", "Dataset", "MinMaxScaler", "StandardScaler", "Subset", "TensorDataset",
    "datasets", "default_collate", "random_split",
]
