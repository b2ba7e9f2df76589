package com.acme.orders.model;

public enum OrderStatus {
    NEW,
    PLACED,
    SHIPPED,
    CANCELLED
}
