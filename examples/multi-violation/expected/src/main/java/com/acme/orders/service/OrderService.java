/*
 * Acme Orders - order management backend.
 * Copyright (c) 2018 Acme Inc. All rights reserved.
 */
package com.acme.orders.service;

import java.math.BigDecimal;
import java.time.LocalDateTime;
import java.util.List;

import jakarta.annotation.Resource;
import jakarta.ejb.SessionContext;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Event;
import jakarta.inject.Inject;
import jakarta.persistence.EntityManager;

import com.acme.orders.model.Order;
import com.acme.orders.model.OrderStatus;

/**
 * Places and cancels orders. Runs as a stateless session bean; callers are authenticated.
 */
@ApplicationScoped
public class OrderService {

    @Inject
    private EntityManager em;

    @Inject
    private Event<Order> orderPlaced;

    @Resource
    private SessionContext sessionContext;

    public Order place(Order order) {
        order.setStatus(OrderStatus.PLACED);
        order.setPlacedAt(LocalDateTime.now());
        order.setPlacedBy(sessionContext.getCallerPrincipal().getName());
        em.persist(order);
        orderPlaced.fire(order);
        return order;
    }

    public Order cancel(long orderId) {
        Order order = em.find(Order.class, orderId);
        if (order == null) {
            throw new IllegalArgumentException("No order " + orderId);
        }
        order.setStatus(OrderStatus.CANCELLED);
        return order;
    }

    public List<Order> openOrders() {
        return em.createQuery("SELECT o FROM Order o WHERE o.status = :status", Order.class)
                .setParameter("status", OrderStatus.PLACED)
                .getResultList();
    }

    public BigDecimal revenue() {
        BigDecimal total = em.createQuery(
                        "SELECT SUM(o.total) FROM Order o WHERE o.status = :status", BigDecimal.class)
                .setParameter("status", OrderStatus.PLACED)
                .getSingleResult();
        return total == null ? BigDecimal.ZERO : total;
    }
}
