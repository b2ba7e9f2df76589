package com.acme.orders.rest;

import java.math.BigDecimal;
import java.util.List;

import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

import com.acme.orders.model.Order;
import com.acme.orders.service.OrderService;

@Path("/orders")
@Produces(MediaType.APPLICATION_JSON)
public class OrderResource {

    @Inject
    OrderService orders;

    @GET
    public List<Order> open() {
        return orders.openOrders();
    }

    @GET
    @Path("/revenue")
    public BigDecimal revenue() {
        return orders.revenue();
    }
}
